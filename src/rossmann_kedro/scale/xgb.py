"""XGBoost trained with `xgboost.dask` on the cluster, returned as the very sklearn Pipeline
(`prep` ColumnTransformer + `XGBRegressor`) that the pandas path fits, so `TreeForecaster`,
its numpy fast path and the gRPC server use it unchanged."""

from __future__ import annotations

import logging
import time
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from rossmann_kedro.features import FEATURE_NAMES
from rossmann_kedro.models.candidates import recency_weights
from rossmann_kedro.models.tree import make_xgboost

logger = logging.getLogger(__name__)

# rows the scaler is fitted on (trees split on thresholds: the scaler's exact statistics do not
# change what the model can learn; the same fitted scaler is used for training and serving)
SCALER_SAMPLE_ROWS = 200_000


def _transform_part(part: pd.DataFrame, prep, names: list[str],
                    features: list[str]) -> pd.DataFrame:
    return pd.DataFrame(prep.transform(part[features]), columns=names, index=part.index)


def _recency_part(dates: pd.Series, half_life_days: float, newest) -> pd.Series:
    return pd.Series(recency_weights(dates, half_life_days, newest), index=dates.index,
                     name="weight")


def _design(rows: dd.DataFrame, prep, features: list[str]) -> tuple[dd.DataFrame, dd.Series]:
    names = list(prep.get_feature_names_out())
    meta = pd.DataFrame({n: pd.Series(dtype=np.float32) for n in names})
    X = rows.map_partitions(_transform_part, prep, names, features, meta=meta)
    y = rows["Sales"].map_partitions(lambda s: np.log1p(s.astype(np.float64)),
                                     meta=("Sales", np.float64))
    return X, y


def fit_xgboost_dask(train: dd.DataFrame, cfg: dict[str, Any], label: str, log_every: int,
                     eval_rows: dd.DataFrame | None = None,
                     features: tuple[str, ...] = FEATURE_NAMES, *,
                     recency_half_life_days: float | None) -> tuple[Pipeline, int]:
    """Fit `make_xgboost(cfg)`'s preprocessing on a sample, then XGBoost on every training row
    with `xgboost.dask` (log1p target, rows weighted by `recency_weights`, as the pandas path),
    on the active Dask client. Returns the fitted Pipeline and the number of training rows."""
    from distributed import get_client
    from xgboost import dask as dxgb

    t0 = time.perf_counter()
    client = get_client()
    features = list(features)
    pipe = make_xgboost(cfg, features)
    n_rows = int(train.shape[0].compute())
    if n_rows == 0:
        raise ValueError(f"{label}: no training rows")
    frac = min(1.0, SCALER_SAMPLE_ROWS / n_rows)
    sample = train[features].sample(frac=frac, random_state=0).compute()
    prep = pipe.named_steps["prep"].fit(sample)
    X, y = _design(train, prep, features)
    dask_cfg = {k: v for k, v in cfg.items() if k != "n_jobs"}  # threads: each worker's own
    reg = dxgb.DaskXGBRegressor(**dask_cfg)
    reg.client = client
    kwargs: dict[str, Any] = {}
    if recency_half_life_days is not None:
        newest = train["Date"].max().compute()
        kwargs["sample_weight"] = train["Date"].map_partitions(
            _recency_part, recency_half_life_days, newest, meta=("weight", np.float64))
    if eval_rows is not None:
        kwargs["eval_set"] = [_design(eval_rows, prep, features)]
    reg.fit(X, y, **kwargs)
    history = reg.evals_result() if eval_rows is not None else {}
    for data, metrics in history.items():
        for metric, values in metrics.items():
            for i, v in enumerate(values, start=1):
                if log_every > 0 and (i % log_every == 0 or i in (1, len(values))):
                    logger.info("%s round %d: %s-%s=%.5f", label, i, data, metric, v)
    booster = reg.get_booster()
    # the served Pipeline feeds the booster a bare array, as the pandas path does
    booster.feature_names = None
    booster.feature_types = None
    model = pipe.named_steps["model"]
    model.load_model(bytearray(booster.save_raw("ubj")))
    logger.info("%s fitted with xgboost.dask on %d rows x %d features, %d workers, in %.1fs",
                label, n_rows, len(features), len(client.scheduler_info()["workers"]),
                time.perf_counter() - t0)
    return pipe, n_rows
