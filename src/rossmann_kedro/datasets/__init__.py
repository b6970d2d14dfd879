"""Custom Kedro datasets of the project."""

from .raw_rossmann import RossmannRawDataset

__all__ = ["RossmannRawDataset"]
