"""Model classes and the helpers every model pipeline shares (metrics, baselines, intervals)."""
