"""Training and evaluation rows laid out by forecast origin.

A served forecast is made at an origin (the day after the last known sales day) for the days
up to six weeks ahead, from what is known at that origin. The rows a model learns from are laid
out the same way: for each origin T on a grid that ends at the end of the history, a
`FeatureContext` is fitted on the rows before T only (statistics *and* calendars, so nothing
published after T leaks in) and features are built for the open days T .. T + horizon - 1.
Every row therefore carries the features a server would have computed for it, including how
far ahead it is (`horizon_days`). Backtest folds are the last origins of the same grid, so one
frame serves the backtest (train on origins < fold, score the fold's origin) and the final fit
(all origins).

For chains too large to hold every store's rows of every origin in one process, the rows can be
limited to a seeded sample of whole stores (`sample_stores`); the contexts are still fitted on
every store's history, so a sampled store's rows equal its rows in the full frame.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from .build import build_features
from .context import FeatureContext

logger = logging.getLogger(__name__)

#: Columns carried next to the features (targets and keys, not features).
ORIGIN_META_COLUMNS = ("origin", "Date", "Store", "Sales", "Customers", "SalesOutlier")


def forecast_origins(history_dates: pd.Series, horizon_days: int, step_days: int,
                     min_history_days: int) -> list[pd.Timestamp]:
    """Origins (first forecast days), oldest first, every `step_days` back from the day after
    the window of the last `horizon_days` days; each keeps at least `min_history_days` of
    history before it. Then the origins after it, `step_days` apart, whose horizon the end of
    the data cuts short: a model trained on the frame learns from the latest weeks too, as the
    origin model of a backtest fold does from the weeks just before its origin, so the fold
    measures the model that training on the data up to its origin gives."""
    dates = pd.to_datetime(history_dates)
    first, last = dates.min(), dates.max()
    origin = last + pd.Timedelta(days=1) - pd.Timedelta(days=horizon_days)
    out = []
    while origin - first >= pd.Timedelta(days=min_history_days):
        out.append(origin)
        origin -= pd.Timedelta(days=step_days)
    if not out:
        raise ValueError(f"history {first.date()}..{last.date()} is too short for one origin "
                         f"with {min_history_days} days of history and a {horizon_days}-day "
                         "horizon")
    out = out[::-1]
    later = out[-1] + pd.Timedelta(days=step_days)
    while later <= last:
        out.append(later)
        later += pd.Timedelta(days=step_days)
    return out


def sample_stores(store_ids: np.ndarray | pd.Series, max_stores: int | None, seed: int,
                  setting: str = "max_stores") -> np.ndarray | None:
    """A seeded sample of `max_stores` of `store_ids` (sorted), or None for all of them (null,
    or no more stores than that). The same ids, setting and seed give the same sample whatever
    the ids' dtype or order, so every step that needs it recomputes it instead of passing it on."""
    if max_stores is None:
        return None
    if isinstance(max_stores, bool) or not isinstance(max_stores, int | np.integer) \
            or max_stores < 1:
        raise ValueError(f"{setting} must be a positive number of stores or null (all), "
                         f"got {max_stores!r}")
    ids = np.unique(np.asarray(store_ids, dtype=np.int64))
    if len(ids) <= max_stores:
        return None
    keep = np.random.default_rng(seed).choice(ids, size=int(max_stores), replace=False)
    return np.sort(keep)


def origin_store_sample(store_ids: np.ndarray | pd.Series,
                        origins_params: dict[str, Any]) -> np.ndarray | None:
    """The stores whose rows the origin frame holds (feature_engineering.origins' `max_stores`
    and `seed`), or None for all."""
    return sample_stores(store_ids, origins_params["max_stores"], int(origins_params["seed"]),
                         setting="feature_engineering.origins.max_stores")


def fit_origin_context(history: pd.DataFrame, stores: pd.DataFrame, origin: pd.Timestamp,
                       context_params: dict[str, Any]) -> FeatureContext:
    """The context a server would have had at `origin`: fitted on rows before it only."""
    before = history.loc[pd.to_datetime(history["Date"]) < origin]
    return FeatureContext.fit(before, stores, calendar_rows=None,
                              train_end=origin - pd.Timedelta(days=1), params=context_params)


def origin_rows(history: pd.DataFrame, context: FeatureContext, origin: pd.Timestamp,
                horizon_days: int) -> pd.DataFrame:
    """Features and targets of the open days origin .. origin + horizon - 1 of stores the
    context knows."""
    dates = pd.to_datetime(history["Date"])
    keep = ((dates >= origin) & (dates < origin + pd.Timedelta(days=horizon_days))
            & (history["Open"] == 1) & history["Store"].isin(context.store_ids))
    rows = history.loc[keep]
    feats = build_features(rows, context).reset_index(drop=True)
    outlier = (rows["SalesOutlier"].astype(bool) if "SalesOutlier" in rows
               else pd.Series(False, index=rows.index))
    meta = pd.DataFrame({
        "origin": np.full(len(rows), origin.to_datetime64()),
        "Date": dates.loc[keep].to_numpy(),
        "Store": rows["Store"].to_numpy(np.int64),
        "Sales": rows["Sales"].to_numpy(np.int64),
        "Customers": rows["Customers"].to_numpy(np.int64),
        "SalesOutlier": outlier.to_numpy(bool),
    })
    return pd.concat([feats.drop(columns=["Store"]), meta], axis=1)


def build_origin_frame(history: pd.DataFrame, stores: pd.DataFrame, origins: list[pd.Timestamp],
                       horizon_days: int, context_params: dict[str, Any],
                       row_stores: np.ndarray | None = None) -> pd.DataFrame:
    """Rows of every origin, stacked (oldest first); logs progress per origin.

    `row_stores` (None = all) limits the rows to those stores; each origin's context is still
    fitted on the whole `history`, so their features are those of the full frame."""
    t0 = time.perf_counter()
    rows_from = history if row_stores is None else history.loc[history["Store"].isin(row_stores)]
    parts = []
    for i, origin in enumerate(origins, 1):
        ctx = fit_origin_context(history, stores, origin, context_params)
        parts.append(origin_rows(rows_from, ctx, origin, horizon_days))
        logger.info("Origin %d/%d %s: %d rows (%.1fs so far)", i, len(origins), origin.date(),
                    len(parts[-1]), time.perf_counter() - t0)
    frame = pd.concat(parts, ignore_index=True)
    logger.info("Origin frame: %d origins %s..%s, %d rows x %d columns in %.1fs", len(origins),
                origins[0].date(), origins[-1].date(), len(frame), frame.shape[1],
                time.perf_counter() - t0)
    return frame
