"""tree_model: RandomForest and XGBoost, validated, compared, explained, served."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
