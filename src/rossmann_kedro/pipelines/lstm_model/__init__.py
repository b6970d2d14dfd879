"""lstm_model: time-series analysis and a two-layer Keras LSTM forecaster, evaluated and served
like the tree models."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
