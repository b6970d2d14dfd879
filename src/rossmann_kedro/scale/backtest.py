"""Dask variant of the backtest node (same signature and outputs as
`pipelines/backtest/nodes.py`): the folds run the pandas code (`backtest_folds`) on the
history gathered in small dtypes, of the stores the folds train and score on only
(`backtest_stores`, computed once: the origin frame's sample of
`feature_engineering.origins.max_stores`, and `backtest.max_stores`), so the driver holds a
bounded number of stores; the backtest's cost is the models per fold, not the data."""

from __future__ import annotations

import logging
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from rossmann_kedro.pipelines.backtest import nodes as bt

from .frames import gather

logger = logging.getLogger(__name__)


def run_backtest(model_input_origins: pd.DataFrame, sales_with_store: dd.DataFrame,
                 stores_clean: pd.DataFrame, fe_params: dict[str, Any],
                 tree_params: dict[str, Any], lstm_params: dict[str, Any],
                 params: dict[str, Any]) -> pd.DataFrame:
    store_ids = np.asarray(sales_with_store["Store"].unique().compute())
    keep = bt.backtest_stores(model_input_origins, store_ids, fe_params, params)
    frame, rows = model_input_origins, sales_with_store
    if keep is not None:
        frame = model_input_origins.loc[model_input_origins["Store"].isin(keep)]
        rows = sales_with_store[sales_with_store["Store"].isin(keep.tolist())]
        logger.info("backtest history: %d of %d stores", len(keep), len(store_ids))
    cols = [c for c in bt.RAW_COLUMNS if c in sales_with_store.columns] + ["SalesOutlier"]
    history = gather(rows, [c for c in cols if c in sales_with_store.columns],
                     what="history for the backtest folds")
    return bt.backtest_folds(frame, history, stores_clean, fe_params, tree_params, lstm_params,
                             params)
