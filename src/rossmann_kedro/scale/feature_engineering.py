"""Dask variants of the feature_engineering nodes (same signatures and outputs as
`pipelines/feature_engineering/nodes.py`).

The feature context is fitted by the pandas node on the history gathered to the driver in
small dtypes (its calendars need every store's days, its statistics are per store); the model
input, by far the largest table, is built by the pandas node on every partition with the
context broadcast, so features are computed by the one feature module.
"""

from __future__ import annotations

import logging
from typing import Any

import dask.dataframe as dd
import pandas as pd

from rossmann_kedro.features import FeatureContext
from rossmann_kedro.pipelines.feature_engineering import nodes as fe

from .frames import gather, map_stores

logger = logging.getLogger(__name__)


def _history_for_context(sales_with_store: dd.DataFrame, stores_clean: pd.DataFrame) -> pd.DataFrame:
    """The sales history without the store attributes (the context takes those from the store
    table), in small dtypes."""
    columns = [c for c in sales_with_store.columns
               if c == "Store" or c not in set(stores_clean.columns)]
    return gather(sales_with_store, columns, what="history for the feature context")


def fit_validation_context(sales_with_store: dd.DataFrame, stores_clean: pd.DataFrame,
                           test_clean: pd.DataFrame, params: dict[str, Any]) -> FeatureContext:
    history = _history_for_context(sales_with_store, stores_clean)
    return fe.fit_validation_context(history, stores_clean, test_clean, params)


def fit_full_context(sales_with_store: dd.DataFrame, stores_clean: pd.DataFrame,
                     test_clean: pd.DataFrame, params: dict[str, Any]) -> FeatureContext:
    history = _history_for_context(sales_with_store, stores_clean)
    return fe.fit_full_context(history, stores_clean, test_clean, params)


def _model_input_part(part: pd.DataFrame, context: FeatureContext, params: dict[str, Any],
                      start: pd.Timestamp) -> pd.DataFrame:
    out = fe.build_model_input(part, context, params)
    # the window starts from the chain's last day, not the partition's
    out["is_validation"] = (out["Date"] >= start).to_numpy()
    return out


def build_model_input(sales_with_store: dd.DataFrame, context: FeatureContext,
                      params: dict[str, Any]) -> dd.DataFrame:
    """`build_model_input` on every partition, the context broadcast."""
    last = sales_with_store["Date"].max().compute()
    start = fe.validation_start(pd.DataFrame({"Date": [last]}), params["validation_weeks"])
    logger.info("model input (context %s..%s) built per partition over %d partitions; "
                "validation window from %s", context.train_start, context.train_end,
                sales_with_store.npartitions, start.date())
    return map_stores(sales_with_store, _model_input_part, context, params, start)


def build_origin_frame(sales_with_store: dd.DataFrame, stores_clean: pd.DataFrame,
                       params: dict[str, Any]) -> pd.DataFrame:
    """The origin frame is built by the pandas node on the gathered history: every origin's
    context needs every store's days before it (its calendars), as the feature context does.
    Its rows are those of `feature_engineering.origins.max_stores` stores (conf/dask: a seeded
    sample), so the frame the driver holds, writes and the backtest and tree_model read back
    stays bounded however large the chain; only the history in small dtypes grows with it."""
    history = _history_for_context(sales_with_store, stores_clean)
    return fe.build_origin_frame(history, stores_clean, params)
