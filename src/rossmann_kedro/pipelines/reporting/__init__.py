"""reporting: work across model families (every model side by side on one validation window)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
