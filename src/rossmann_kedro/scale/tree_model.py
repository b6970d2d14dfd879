"""Dask variants of the tree_model nodes that read the model-input tables (same signatures and
outputs as `pipelines/tree_model/nodes.py`).

XGBoost (validation fit and refit) trains on every row with `xgboost.dask`. Steps that only
need the validation window (predictions, seasonal-naive baseline, permutation importance)
gather that window, which is small, and run the pandas node. The RandomForest baseline and the
loss comparison, which have no distributed trainer here, run the pandas node on a seeded
sample of at most `scale.gather_max_rows` training rows (logged).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dask.dataframe as dd
import pandas as pd
from sklearn.pipeline import Pipeline

from rossmann_kedro.pipelines.tree_model import nodes as tm

from .cluster import active_config
from .frames import gather
from .xgb import fit_xgboost_dask

logger = logging.getLogger(__name__)


def _training_rows(model_input: dd.DataFrame, params: dict[str, Any],
                   validation: bool) -> dd.DataFrame:
    """The pandas row filter on every partition (without its optional subsample)."""
    no_sample = {**params, "max_train_rows": None}
    return model_input.map_partitions(tm._training_rows, no_sample, validation,
                                      meta=model_input._meta)


def _sample(model_input: dd.DataFrame, params: dict[str, Any], validation: bool,
            what: str) -> pd.DataFrame:
    """Training rows, or a seeded sample of at most `gather_max_rows`, as pandas."""
    rows = _training_rows(model_input, params, validation)
    n = int(rows.shape[0].compute())
    cap = active_config().gather_max_rows
    if n > cap:
        rows = rows.sample(frac=cap / n, random_state=0)
        logger.info("%s: trained on a seeded sample of ~%d of %d rows (scale.gather_max_rows)",
                    what, cap, n)
    return gather(rows, what=f"training rows for {what}")


def _recent(model_input: dd.DataFrame, weeks_before: int) -> pd.DataFrame:
    """The validation window plus `weeks_before` weeks of history before it, as pandas."""
    start = model_input.loc[model_input["is_validation"].astype(bool), "Date"].min().compute()
    cut = start - pd.Timedelta(weeks=weeks_before)
    return gather(model_input.loc[model_input["Date"] >= cut],
                  what=f"validation window + {weeks_before} weeks")


def train_xgboost(model_input_validation: dd.DataFrame,
                  params: dict[str, Any]) -> tuple[Pipeline, dict[str, Any]]:
    t0 = time.perf_counter()
    train = _training_rows(model_input_validation, params, validation=True)
    val = model_input_validation.loc[model_input_validation["is_validation"].astype(bool)
                                     & (model_input_validation["Open"] == 1)
                                     & (model_input_validation["Sales"] > 0)]
    pipe, n_rows = fit_xgboost_dask(train, params["models"]["xgboost"],
                                    "xgboost (validation fit)", params.get("log_every", 100),
                                    eval_rows=val)
    info = {"train_rows": n_rows, "fit_seconds": round(time.perf_counter() - t0, 2),
            "engine": "xgboost.dask"}
    return pipe, info


def train_random_forest(model_input_validation: dd.DataFrame,
                        params: dict[str, Any]) -> tuple[Pipeline, dict[str, Any]]:
    sample = _sample(model_input_validation, params, True, "random_forest (validation fit)")
    pipe, info = tm.train_random_forest(sample, params)
    return pipe, {**info, "engine": "pandas sample"}


def predict_validation(model_input_validation: dd.DataFrame, random_forest: Pipeline,
                       xgboost: Pipeline, params: dict[str, Any]) -> pd.DataFrame:
    recent = _recent(model_input_validation, int(params.get("naive_weeks", 8)) + 1)
    return tm.predict_validation(recent, random_forest, xgboost, params)


def compare_losses(model_input_validation: dd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    if not (params.get("loss_comparison") or {}).get("enabled", True):
        return tm.compare_losses(model_input_validation, params)
    sample = _sample(model_input_validation, params, True, "loss comparison")
    # the pandas node scores on the validation window: give it that window too
    window = _recent(model_input_validation, 0)
    return tm.compare_losses(pd.concat([sample, window], ignore_index=True), params)


def feature_importance(xgboost: Pipeline, model_input_validation: dd.DataFrame,
                       params: dict[str, Any]):
    return tm.feature_importance(xgboost, _recent(model_input_validation, 0), params)


def refit_model(model_input_full: dd.DataFrame, random_forest: Pipeline, xgboost: Pipeline,
                chosen: str, params: dict[str, Any]) -> Pipeline:
    if chosen != "xgboost" or not params.get("refit_on_full_data", True):
        sample = (_sample(model_input_full, params, False, f"{chosen} (refit)")
                  if params.get("refit_on_full_data", True) else None)
        return tm.refit_model(sample, random_forest, xgboost, chosen, params)
    train = _training_rows(model_input_full, params, validation=False)
    return fit_xgboost_dask(train, params["models"]["xgboost"], "xgboost (refit, all data)",
                            params.get("log_every", 100))[0]
