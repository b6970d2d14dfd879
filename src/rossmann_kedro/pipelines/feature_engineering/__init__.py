"""feature_engineering: fit the feature contexts and build the model-input tables."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
