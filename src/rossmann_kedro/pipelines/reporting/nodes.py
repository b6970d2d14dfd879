"""Nodes of the reporting pipeline: comparisons across model families, read from the metrics
each model pipeline saved (so every model pipeline runs on its own)."""

from __future__ import annotations

import logging
from typing import Any

from rossmann_kedro.models import metrics as mx

logger = logging.getLogger(__name__)


def compare_all_models(tree_model_metrics: dict[str, Any], lstm_metrics: dict[str, Any]):
    """One table and plot with every model on the same validation window (naive, RF, XGBoost,
    LSTM), so the LSTM is judged against the trees on identical store-days."""
    tree_window = tree_model_metrics["validation_window"]
    lstm_window = {"start": lstm_metrics["validation_start"], "end": lstm_metrics["validation_end"]}
    if (tree_window["start"], tree_window["end"]) != (lstm_window["start"], lstm_window["end"]):
        raise ValueError(f"validation windows differ: trees {tree_window}, lstm {lstm_window}; "
                         "re-run tree_model and lstm_model on the same data")
    results = {name: dict(m) for name, m in tree_model_metrics["models"].items()}
    results["lstm"] = {k: lstm_metrics[k] for k in (*mx.METRICS, "n")}
    table = mx.comparison_table(results).reset_index()
    best = table.loc[table["rmspe"].idxmin(), "model"]
    logger.info("model comparison on %s..%s (RMSPE): %s; best: %s", tree_window["start"],
                tree_window["end"], {r.model: round(r.rmspe, 4) for r in table.itertuples()}, best)
    fig = mx.comparison_figure(results, f"All models, validation {tree_window['start']}.."
                                        f"{tree_window['end']}")
    return table, fig
