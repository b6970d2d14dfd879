"""sklearn face of the feature module, for use inside an sklearn `Pipeline`."""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .build import FEATURE_NAMES, build_features
from .context import FeatureContext


class FeatureTransformer(TransformerMixin, BaseEstimator):
    """Rossmann-format rows -> model matrix, with a pre-fitted `FeatureContext`.

    The context is fitted explicitly (`FeatureContext.fit`) because it needs more than the rows a
    Pipeline sees (store table, calendars from the test file, the training-window cutoff); like
    sklearn's "prefit" estimators, `fit` here does nothing, so refitting a Pipeline that contains
    this step never re-derives statistics from the rows being scored.
    """

    def __init__(self, context: FeatureContext | None = None) -> None:
        self.context = context

    def fit(self, X: pd.DataFrame, y=None) -> FeatureTransformer:
        if self.context is None:
            raise ValueError("FeatureTransformer needs a fitted FeatureContext")
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return build_features(X, self.context)

    def get_feature_names_out(self, input_features=None):
        return list(FEATURE_NAMES)
