"""The one place features are computed, for training and for serving.

    context = FeatureContext.fit(sales_history, stores, calendar_rows=test_rows, train_end=...)
    X = build_features(request_rows, context)        # or FeatureTransformer(context).transform

See `build.py` for why the result is batch-independent and leakage-free.
"""

from .build import (
    CONTINUOUS_FEATURES,
    FEATURE_NAMES,
    GRID_DISTANCE_FEATURES,
    LEGACY_FEATURE_NAMES,
    ORIGIN_FEATURE_NAMES,
    REQUIRED_COLUMNS,
    build_features,
    feature_matrix,
)
from .context import FeatureContext
from .transformer import FeatureTransformer

__all__ = [
    "CONTINUOUS_FEATURES", "FEATURE_NAMES", "GRID_DISTANCE_FEATURES", "LEGACY_FEATURE_NAMES",
    "ORIGIN_FEATURE_NAMES",
    "REQUIRED_COLUMNS", "FeatureContext",
    "FeatureTransformer", "build_features", "feature_matrix",
]
