"""eda: what drives Rossmann sales -- ten analyses as numbers, tables, figures and a report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
