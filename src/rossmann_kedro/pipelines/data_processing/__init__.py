"""data_processing: validate the raw Kaggle tables, fix types, fill missing values, handle sales
outliers and merge store attributes."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
