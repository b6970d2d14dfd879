"""tree_model through real Kedro sessions on the synthetic default (small model settings):
metrics, intervals, closed days, batch = forecaster.predict, versioned round trip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.forecaster import PREDICTION_COLUMNS, REQUEST_COLUMNS, Forecaster
from rossmann_kedro.models.intervals import coverage
from rossmann_kedro.workspace import make_workspace, run_pipeline

# Small but same-shaped settings: the test is about behaviour, not accuracy.
FAST = {"tree_model": {
    "log_every": 10,
    "models": {"random_forest": {"n_estimators": 8}, "xgboost": {"n_estimators": 40}},
    "loss_comparison": {"overrides": {"n_estimators": 10}},
    "permutation_importance": {"n_rows": 2000, "n_repeats": 1},
}}


def _catalog(ws: Path):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ws)
    with KedroSession.create(project_path=ws) as session:
        return session.load_context().catalog


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = make_workspace(tmp_path_factory.mktemp("tree") / "ws")
    run_pipeline(ws, "data_processing")
    run_pipeline(ws, "feature_engineering")
    run_pipeline(ws, "tree_model", params=FAST)
    time.sleep(1.1)  # version timestamps have millisecond resolution; keep runs apart
    run_pipeline(ws, "tree_model", params=FAST)
    return ws


def _metrics(ws: Path) -> dict:
    versions = sorted((ws / "data/08_reporting/tree_model_metrics.json").iterdir())
    return json.loads((versions[-1] / "tree_model_metrics.json").read_text())


def test_metrics_compare_three_models_and_two_losses(workspace: Path) -> None:
    doc = _metrics(workspace)
    models = doc["models"]
    assert set(models) == {"seasonal_naive", "random_forest", "xgboost"}
    for r in models.values():
        assert {"rmspe", "rmse", "mae", "n"} <= set(r) and r["n"] > 0
    # the trees beat the naive baseline clearly even with tiny settings
    assert models["xgboost"]["rmspe"] < 0.8 * models["seasonal_naive"]["rmspe"]
    assert models["random_forest"]["rmspe"] < models["seasonal_naive"]["rmspe"]
    lc = doc["loss_comparison"]
    assert {"squared_error_on_log1p_sales", "squared_error_on_sales"} <= set(lc)
    assert doc["chosen"] in ("random_forest", "xgboost")
    fi = pd.read_csv(workspace / "data/08_reporting/tree_feature_importance.csv")
    assert {"gain", "permutation_rmspe_increase"} <= set(fi.columns)
    assert (workspace / "data/08_reporting/tree_model_comparison.json").is_file()


def test_interval_coverage_is_roughly_nominal(workspace: Path) -> None:
    doc = _metrics(workspace)["intervals"]
    assert doc["level"] == 0.8
    assert 0.7 <= doc["coverage"] <= 0.9, doc
    # and the served forecaster's bounds are ordered around the point forecast
    pred = pd.read_parquet(workspace / "data/07_model_output/tree_test_predictions.parquet")
    assert (pred["lower"] <= pred["Sales"]).all() and (pred["Sales"] <= pred["upper"]).all()


def test_closed_days_predict_zero_and_batch_equals_forecaster(workspace: Path) -> None:
    catalog = _catalog(workspace)
    forecaster = catalog.load("tree_forecaster")
    assert isinstance(forecaster, Forecaster)
    test = catalog.load("test_clean")
    batch = catalog.load("tree_test_predictions")
    closed = batch["Open"] == 0
    assert closed.any()
    assert (batch.loc[closed, list(PREDICTION_COLUMNS)] == 0).all().all()
    assert (batch.loc[~closed, "Sales"] > 0).all()
    served = forecaster.predict(test[list(REQUEST_COLUMNS)])
    np.testing.assert_allclose(served["Sales"].to_numpy(), batch["Sales"].to_numpy(), rtol=1e-9)
    assert forecaster.check_fast_path(test) <= 1e-9  # numpy scoring path == sklearn Pipeline
    one = forecaster.predict(test[list(REQUEST_COLUMNS)].iloc[[5]])
    np.testing.assert_allclose(one.to_numpy(), served.iloc[[5]].to_numpy(), rtol=1e-6)
    sub = pd.read_csv(workspace / "data/07_model_output/tree_submission.csv")
    assert list(sub.columns) == ["Id", "Sales"] and len(sub) == len(test)
    # a closed request row is 0 without depending on the other fields
    row = test[list(REQUEST_COLUMNS)].iloc[[0]].assign(Open=0)
    assert forecaster.predict(row).iloc[0].tolist() == [0.0, 0.0, 0.0]


def test_versioned_round_trip(workspace: Path) -> None:
    versions = sorted(p.name for p in (workspace / "data/06_models/tree_forecaster.pkl").iterdir())
    assert len(versions) == 2
    catalog = _catalog(workspace)
    latest = catalog.load("tree_forecaster")
    meta = latest.metadata
    for key in ("name", "trained_at", "train_start", "train_end", "metrics", "interval_level",
                "feature_names", "coverage"):
        assert key in meta
    assert meta["name"] == "tree" and set(meta["metrics"]) == {"rmspe", "rmse", "mae"}
    from kedro.io import DataCatalog

    config = {"tree_forecaster": {"type": "pickle.PickleDataset", "backend": "joblib",
                                  "filepath": str(workspace / "data/06_models/tree_forecaster.pkl"),
                                  "versioned": True}}
    first = DataCatalog.from_config(config, load_versions={"tree_forecaster": versions[0]})
    older = first.load("tree_forecaster")
    assert older.metadata["trained_at"] <= meta["trained_at"]
    newest = DataCatalog.from_config(config, load_versions={"tree_forecaster": versions[-1]})
    assert newest.load("tree_forecaster").metadata["trained_at"] == meta["trained_at"]


def test_validation_predictions_cover_the_window(workspace: Path) -> None:
    v = pd.read_parquet(workspace / "data/07_model_output/tree_validation_predictions.parquet")
    assert {"seasonal_naive", "random_forest", "xgboost"} <= set(v.columns)
    lo_hi_cov = coverage(v["Sales"].to_numpy(), v["xgboost"].to_numpy() * 0.5,
                         v["xgboost"].to_numpy() * 2.0)
    assert lo_hi_cov > 0.9  # sanity: predictions are in the right range
