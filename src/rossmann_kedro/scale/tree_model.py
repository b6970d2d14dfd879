"""Dask variant of tree_model's `train_members` (same signature and outputs as
`pipelines/tree_model/nodes.py`).

Members trained on every open day (`training: one_window`, the model-input table, the largest
one) are XGBoost models trained with `xgboost.dask` on the cluster; members trained on the
origin frame (a pandas table, a fraction of it per fit) use the pandas node unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import dask.dataframe as dd
import pandas as pd
from sklearn.pipeline import Pipeline

from rossmann_kedro.models.candidates import candidate_specs, trainable_rows
from rossmann_kedro.pipelines.tree_model import nodes as tm

from .xgb import fit_xgboost_dask

logger = logging.getLogger(__name__)


def train_members(model_input_origins: pd.DataFrame, model_input_full: dd.DataFrame,
                  backtest_selection: dict[str, Any],
                  params: dict[str, Any]) -> dict[str, Pipeline]:
    specs = candidate_specs(params)
    members = backtest_selection["members"]
    on_cluster = {n for n in members
                  if n in specs and specs[n].training == "one_window"
                  and specs[n].family == "xgboost"}
    local = {n: w for n, w in members.items() if n not in on_cluster}
    fitted = (tm.train_members(model_input_origins, None, {**backtest_selection,
                                                            "members": local}, params)
              if local else {})
    drop = bool(params["drop_outliers"])
    for name in on_cluster:
        spec = specs[name]
        rows = model_input_full.map_partitions(trainable_rows, drop,
                                               meta=model_input_full._meta)
        pipe = fit_xgboost_dask(rows, spec.params, f"{name} (all history)",
                                int(params["log_every"]), features=spec.features,
                                recency_half_life_days=params["recency_half_life_days"])[0]
        pipe.trained_with_ = "xgboost.dask"  # fitted state, sklearn-style: says where it trained
        fitted[name] = pipe
    return {n: fitted[n] for n in members}
