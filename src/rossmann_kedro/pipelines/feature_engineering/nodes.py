"""Nodes of the feature_engineering pipeline: fit `FeatureContext`s and materialise features.

Two contexts are fitted: one from the history before the validation window (its statistics
never see the validation weeks, so validation scores are honest) and one from all history (for
the model that is refitted and served).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from rossmann_kedro.features import FeatureContext, build_features
from rossmann_kedro.features import origins as org
from rossmann_kedro.pipelines.feature_engineering.config import FeatureEngineeringConfig

logger = logging.getLogger(__name__)

# Columns carried next to the features in model-input tables (targets and keys, not features).
META_COLUMNS = ("Date", "Sales", "Customers", "Open", "SalesOutlier", "is_validation")


def validation_start(sales: pd.DataFrame, validation_weeks: int) -> pd.Timestamp:
    """First day of the validation window: `validation_weeks` weeks before the last history day
    (the project's convention: 6 weeks on the real train give 2015-05-08..2015-06-19). The one
    definition: model pipelines read it from the contexts (`feature_context_validation.train_end`
    is the day before) and from `is_validation` in the model-input tables."""
    last = pd.to_datetime(sales["Date"]).max()
    return last - pd.Timedelta(weeks=validation_weeks)


def _fit(sales: pd.DataFrame, stores: pd.DataFrame, test: pd.DataFrame, train_end,
         params: FeatureEngineeringConfig) -> FeatureContext:
    return FeatureContext.fit(sales, stores, calendar_rows=test, train_end=train_end,
                              params=params["context"])


def fit_validation_context(sales_with_store: pd.DataFrame, stores_clean: pd.DataFrame,
                           test_clean: pd.DataFrame,
                           params: FeatureEngineeringConfig) -> FeatureContext:
    """Context whose sales statistics end the day before the validation window."""
    start = validation_start(sales_with_store, params["validation_weeks"])
    ctx = _fit(sales_with_store, stores_clean, test_clean, start - pd.Timedelta(days=1), params)
    logger.info("Validation context: statistics %s..%s; validation window starts %s",
                ctx.train_start, ctx.train_end, start.date())
    return ctx


def fit_full_context(sales_with_store: pd.DataFrame, stores_clean: pd.DataFrame,
                     test_clean: pd.DataFrame, params: FeatureEngineeringConfig) -> FeatureContext:
    """Context from all history: what the refitted, served model uses."""
    ctx = _fit(sales_with_store, stores_clean, test_clean, None, params)
    logger.info("Full context: statistics %s..%s", ctx.train_start, ctx.train_end)
    return ctx


def build_model_input(sales_with_store: pd.DataFrame, context: FeatureContext,
                      params: FeatureEngineeringConfig) -> pd.DataFrame:
    """Features of every open history day, plus targets and the validation flag.

    Closed days are dropped: they are predicted as 0 by rule and never scored.
    """
    t0 = time.perf_counter()
    open_rows = sales_with_store.loc[sales_with_store["Open"] == 1]
    feats = build_features(open_rows, context)
    start = validation_start(sales_with_store, params["validation_weeks"])
    dates = pd.to_datetime(open_rows["Date"])
    outlier = (open_rows["SalesOutlier"].astype(bool) if "SalesOutlier" in open_rows
               else pd.Series(False, index=open_rows.index))
    meta = pd.DataFrame({
        "Date": dates.to_numpy(),
        "Sales": open_rows["Sales"].to_numpy(np.int64),
        "Customers": open_rows["Customers"].to_numpy(np.int64),
        "Open": open_rows["Open"].to_numpy(np.int64),
        "SalesOutlier": outlier.to_numpy(bool),
        "is_validation": (dates >= start).to_numpy(),
    }, index=open_rows.index)
    out = pd.concat([feats, meta], axis=1).reset_index(drop=True)
    logger.info("Model input (context %s..%s): %d of %d rows open -> %d features + %d meta "
                "columns, %d validation rows, in %.1fs", context.train_start, context.train_end,
                len(open_rows), len(sales_with_store), feats.shape[1], meta.shape[1],
                int(meta["is_validation"].sum()), time.perf_counter() - t0)
    return out


def build_test_features(test_clean: pd.DataFrame, context: FeatureContext) -> pd.DataFrame:
    """Features of the test rows with the full context (for inspection; batch predictions call
    the forecaster on the raw rows, exactly like the server)."""
    t0 = time.perf_counter()
    feats = build_features(test_clean, context)
    out = pd.concat([test_clean[["Id"]].reset_index(drop=True), feats.reset_index(drop=True)],
                    axis=1)
    logger.info("Test features: %d rows x %d features in %.2fs", len(out), feats.shape[1],
                time.perf_counter() - t0)
    return out


def build_origin_frame(sales_with_store: pd.DataFrame, stores_clean: pd.DataFrame,
                       params: FeatureEngineeringConfig) -> pd.DataFrame:
    """Every open day from the first origin on, with the features a server would have computed
    at the forecast origin up to `horizon_days` before it (see `rossmann_kedro.features.origins`);
    of a seeded sample of stores if `origins.max_stores` is set."""
    cfg = params["origins"]
    origins = org.forecast_origins(sales_with_store["Date"], int(cfg["horizon_days"]),
                                   int(cfg["step_days"]), int(cfg["min_history_days"]))
    store_ids = sales_with_store["Store"].unique()
    sample = org.origin_store_sample(store_ids, cfg)
    if sample is not None:
        logger.info("Origin frame on a seeded sample of %d of %d stores "
                    "(feature_engineering.origins.max_stores); contexts fitted on all stores",
                    len(sample), len(store_ids))
    return org.build_origin_frame(sales_with_store, stores_clean, origins,
                                  int(cfg["horizon_days"]), params["context"], row_stores=sample)
