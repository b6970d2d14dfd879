"""Accuracy metrics, the seasonal-naive baseline and model-comparison artefacts, shared by every
model pipeline (tree now, LSTM later) so that their numbers are comparable."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

METRICS = ("rmspe", "rmse", "mae")


def _scored(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    keep = y > 0
    return y[keep], p[keep]


def rmspe(y_true, y_pred) -> float:
    """Kaggle's metric: root mean squared percentage error over rows with Sales > 0."""
    y, p = _scored(y_true, y_pred)
    return float(np.sqrt(np.mean(((y - p) / y) ** 2))) if len(y) else float("nan")


def rmse(y_true, y_pred) -> float:
    """Root mean squared error over rows with Sales > 0 (same rows as RMSPE)."""
    y, p = _scored(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2))) if len(y) else float("nan")


def mae(y_true, y_pred) -> float:
    """Mean absolute error over rows with Sales > 0 (same rows as RMSPE)."""
    y, p = _scored(y_true, y_pred)
    return float(np.mean(np.abs(y - p))) if len(y) else float("nan")


def evaluate(y_true, y_pred) -> dict[str, float]:
    """{"rmspe", "rmse", "mae", "n"} over the rows with Sales > 0."""
    y, _ = _scored(y_true, y_pred)
    return {"rmspe": rmspe(y_true, y_pred), "rmse": rmse(y_true, y_pred),
            "mae": mae(y_true, y_pred), "n": int(len(y))}


def seasonal_naive(history: pd.DataFrame, target: pd.DataFrame, weeks: int = 8) -> np.ndarray:
    """Store x day-of-week median of Sales over the `weeks` weeks before the target window
    (open days with Sales > 0), store median as fallback, 0 for closed target days.

    `history` and `target` need Store, DayOfWeek, Date, Sales/Open (history) and Open (target).
    """
    start = pd.to_datetime(target["Date"]).min()
    h_dates = pd.to_datetime(history["Date"])
    recent = history.loc[(h_dates < start) & (h_dates >= start - pd.Timedelta(weeks=weeks))
                         & (history["Open"] == 1) & (history["Sales"] > 0)]
    by_cell = recent.groupby(["Store", "DayOfWeek"])["Sales"].median()
    by_store = recent.groupby("Store")["Sales"].median()
    key = pd.MultiIndex.from_arrays([target["Store"].to_numpy(), target["DayOfWeek"].to_numpy()])
    pred = by_cell.reindex(key).to_numpy()
    fallback = by_store.reindex(target["Store"].to_numpy()).to_numpy()
    pred = np.where(np.isnan(pred), fallback, pred)
    pred = np.where(np.isnan(pred), np.nanmedian(recent["Sales"]) if len(recent) else 0.0, pred)
    return np.where(target["Open"].to_numpy() == 1, pred, 0.0)


def comparison_table(results: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Rows: models; columns: the metrics (what the JSON and the plot show)."""
    return pd.DataFrame({name: {m: r.get(m) for m in (*METRICS, "n")}
                         for name, r in results.items()}).T.rename_axis("model")


def comparison_figure(results: Mapping[str, Mapping[str, float]], title: str):
    """Plotly bar charts of RMSPE / RMSE / MAE per model, side by side."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(results)
    fig = make_subplots(rows=1, cols=3, subplot_titles=("RMSPE", "RMSE", "MAE"))
    for j, metric in enumerate(METRICS, start=1):
        vals = [results[n][metric] for n in names]
        fig.add_trace(go.Bar(x=names, y=vals, name=metric.upper(), showlegend=False,
                             text=[f"{v:.4f}" if metric == "rmspe" else f"{v:.0f}" for v in vals],
                             textposition="outside"), row=1, col=j)
    fig.update_layout(title=title, height=420, width=1100)
    return fig
