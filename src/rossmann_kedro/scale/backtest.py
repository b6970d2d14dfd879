"""Dask variant of the backtest node (same signature and outputs as
`pipelines/backtest/nodes.py`): the folds run the pandas node on the gathered history (the
origin frame is already pandas); the backtest's cost is the models per fold, not the data."""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd
import pandas as pd

from rossmann_kedro.pipelines.backtest import nodes as bt

from .frames import gather


def run_backtest(model_input_origins: pd.DataFrame, sales_with_store: dd.DataFrame,
                 stores_clean: pd.DataFrame, fe_params: dict[str, Any],
                 tree_params: dict[str, Any], lstm_params: dict[str, Any],
                 params: dict[str, Any]) -> pd.DataFrame:
    cols = [c for c in bt.RAW_COLUMNS if c in sales_with_store.columns] + ["SalesOutlier"]
    history = gather(sales_with_store, [c for c in cols if c in sales_with_store.columns],
                     what="history for the backtest folds")
    return bt.run_backtest(model_input_origins, history, stores_clean, fe_params, tree_params,
                           lstm_params, params)
