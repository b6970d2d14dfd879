"""backtest: rolling-origin evaluation of every model; decides what tree_model serves."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
