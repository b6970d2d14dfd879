"""Nodes of the reporting pipeline: comparisons across model families, read from what the
model pipelines saved (so every model pipeline runs on its own)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


def compare_all_models(backtest_selection: dict[str, Any], lstm_metrics: dict[str, Any]):
    """Every model side by side on the backtest's folds (mean, spread and per-fold RMSPE, each
    fitted before its fold's origin), plus the served LSTM version's own validation window."""
    import plotly.graph_objects as go

    rows = [{"model": name, "evaluation": f"backtest, {len(s['fold_rmspe'])} folds",
             "rmspe": s["mean_rmspe"], "rmspe_std": s["std_rmspe"],
             **{f"fold_{i}": v for i, v in enumerate(s["fold_rmspe"], 1)}}
            for name, s in backtest_selection["scores"].items()]
    rows.append({"model": "lstm (validation window)",
                 "evaluation": f"validation {lstm_metrics['validation_start']}.."
                               f"{lstm_metrics['validation_end']}",
                 "rmspe": lstm_metrics["rmspe"], "rmspe_std": float("nan")})
    table = pd.DataFrame(rows).sort_values("rmspe").reset_index(drop=True)
    logger.info("model comparison (RMSPE): %s", {r.model: round(r.rmspe, 4)
                                                  for r in table.itertuples()})
    fig = go.Figure(go.Bar(x=table["model"], y=table["rmspe"],
                           error_y={"type": "data", "array": table["rmspe_std"].fillna(0)},
                           text=[f"{v:.4f}" for v in table["rmspe"]], textposition="outside"))
    fig.update_layout(title="All models: mean out-of-sample RMSPE over the backtest folds "
                            "(error bars: spread over folds)", height=480, width=1100)
    return table, fig
