"""monitoring: input drift of served requests vs the training data, and served accuracy once
actual sales for the served days arrive."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
