"""The lstm_model pipeline through real Kedro sessions on small synthetic data: every output,
the versioned save/load round-trip through the catalog, and batch/serving parity."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rossmann_kedro.forecaster import REQUEST_COLUMNS, Forecaster
from rossmann_kedro.synthetic import write_csvs
from rossmann_kedro.workspace import make_workspace, run_pipeline
from tests.small_params import small_backtest_params

from .conftest import TINY_CONFIG

pytestmark = pytest.mark.slow


def _catalog(ws: Path):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ws)
    with KedroSession.create(project_path=ws) as session:
        return session.load_context().catalog


@pytest.fixture(scope="module")
def lstm_ws(tmp_path_factory, small_raw_tables) -> Path:
    ws = make_workspace(tmp_path_factory.mktemp("lstm") / "ws")
    write_csvs(ws / "data" / "01_raw", tables=small_raw_tables)
    params_file = ws / "conf" / "base" / "parameters_lstm_model.yml"
    params = yaml.safe_load(params_file.read_text())
    params["lstm_model"].update({**TINY_CONFIG, "horizon_days": 60, "epochs": 4,
                                 "anchor_stride_days": 7})
    params["lstm_model"]["stationarity"]["max_stores"] = 3
    params_file.write_text(yaml.safe_dump(params))
    run_pipeline(ws, "data_processing")
    run_pipeline(ws, "feature_engineering")
    # the backtest without the LSTM (lstm_model reads its LSTM figures: none here; the
    # backtest test module covers a backtest that scores it)
    run_pipeline(ws, "backtest", params=small_backtest_params(["seasonal_naive", "xgboost_v1"]))
    run_pipeline(ws, "lstm_model")  # no tree_model: pipelines talk only through catalog datasets
    return ws


def test_runs_without_tree_model(lstm_ws: Path) -> None:
    assert not (lstm_ws / "data" / "06_models" / "tree_forecaster.pkl").exists()
    assert not (lstm_ws / "data" / "08_reporting" / "tree_model_metrics.json").exists()
    assert any((lstm_ws / "data" / "06_models" / "lstm_forecaster.pkl").iterdir())


def test_pipeline_writes_every_output(lstm_ws: Path) -> None:
    d = lstm_ws / "data"
    metrics_dir = d / "08_reporting" / "lstm_metrics.json"
    versions = sorted(metrics_dir.iterdir())
    assert len(versions) == 1
    metrics = json.loads((versions[0] / "lstm_metrics.json").read_text())
    assert {"rmspe", "rmse", "mae", "n", "coverage", "interval_level"} <= set(metrics)
    assert 0 < metrics["rmspe"] < 0.5 and 0 <= metrics["coverage"] <= 1
    sales = pd.read_parquet(d / "03_primary" / "sales_with_store.parquet")
    assert metrics["validation_start"] == str((sales["Date"].max() - pd.Timedelta(weeks=6)).date())
    tests = pd.read_csv(d / "08_reporting" / "lstm_stationarity_tests.csv")
    assert "aggregate" in set(tests["series"])
    assert tests["series"].nunique() == 4                              # aggregate + 3 stores
    assert tests["series"].drop_duplicates().iloc[1:].str.match(r"store_\d+$").all()
    acf = pd.read_csv(d / "08_reporting" / "lstm_acf_pacf.csv")
    assert {"series", "lag", "acf", "pacf"} <= set(acf.columns)
    assert json.loads((d / "08_reporting" / "lstm_acf_pacf.json").read_text())["data"]
    hist = pd.read_csv(d / "08_reporting" / "lstm_training_history.csv")
    assert {"epoch", "loss", "val_loss"} <= set(hist.columns)
    val = pd.read_parquet(d / "07_model_output" / "lstm_validation_predictions.parquet")
    assert (val["Date"] >= pd.Timestamp(metrics["validation_start"])).all()
    sub = pd.read_csv(d / "07_model_output" / "lstm_submission.csv")
    assert list(sub.columns) == ["Id", "Sales"]


def test_versioned_catalog_round_trip_and_batch_parity(lstm_ws: Path) -> None:
    catalog = _catalog(lstm_ws)
    model = catalog.load("lstm_forecaster")
    assert isinstance(model, Forecaster) and model.name == "lstm"
    test = pd.read_parquet(lstm_ws / "data" / "02_intermediate" / "test_clean.parquet")
    batch = pd.read_parquet(lstm_ws / "data" / "07_model_output" / "lstm_test_predictions.parquet")
    rows = test.loc[test["Store"].isin(model.stores)]
    assert len(batch) == len(rows)
    served = model.predict(rows[list(REQUEST_COLUMNS)].iloc[::5])
    np.testing.assert_allclose(served.to_numpy(), batch[["Sales", "lower", "upper"]].iloc[::5]
                               .to_numpy(), rtol=1e-6)
    # a second save through a new catalog makes a second version; the latest is loaded
    first = sorted((lstm_ws / "data" / "06_models" / "lstm_forecaster.pkl").iterdir())
    time.sleep(0.01)
    model.metadata["marker"] = "second"
    _catalog(lstm_ws).save("lstm_forecaster", model)
    versions = sorted((lstm_ws / "data" / "06_models" / "lstm_forecaster.pkl").iterdir())
    assert len(versions) == 2 and versions[0] == first[0]
    latest = _catalog(lstm_ws).load("lstm_forecaster")
    assert latest.metadata["marker"] == "second"
    np.testing.assert_array_equal(latest.predict(rows).to_numpy(),
                                  batch[["Sales", "lower", "upper"]].to_numpy())


def test_served_model_covers_the_test_dates(lstm_ws: Path) -> None:
    model = _catalog(lstm_ws).load("lstm_forecaster")
    lo, hi = model.metadata["valid_dates"]
    sales = pd.read_parquet(lstm_ws / "data" / "03_primary" / "sales_with_store.parquet")
    assert model.metadata["history_end"] == str(sales["Date"].max().date())
    assert pd.Timestamp(lo) == sales["Date"].max() + pd.Timedelta(days=1)
    assert pd.Timestamp(hi) - pd.Timestamp(lo) == pd.Timedelta(days=59)
    assert model.metadata["metrics"]["rmspe"] > 0


def test_served_network_is_refitted_through_the_last_day(lstm_ws: Path) -> None:
    """The served weights are fitted like the backtest's at an origin (early stopping on the last
    weeks of all history), not the validation-phase weights moved to a later history."""
    model = _catalog(lstm_ws).load("lstm_forecaster")
    sales = pd.read_parquet(lstm_ws / "data" / "03_primary" / "sales_with_store.parquet")
    last = sales["Date"].max()
    metrics = json.loads(next((lstm_ws / "data" / "08_reporting" / "lstm_metrics.json").glob("*/*.json"))
                         .read_text())
    assert model.training["fit_end"] == str(last.date())
    weeks = int(model.config["early_stopping_weeks"])
    assert model.training["early_stopping_split"] == str((last - pd.Timedelta(weeks=weeks)).date())
    window_start = pd.Timestamp(metrics["validation_start"])
    assert metrics["training"]["fit_end"] == str((window_start - pd.Timedelta(days=1)).date())
    # a backtest that left the LSTM out: the served LSTM reports its validation window
    assert "backtest" not in model.metadata
    assert model.metadata["metrics"]["rmspe"] == pytest.approx(metrics["rmspe"])
    assert model.metadata["validation_window"]["start"] == metrics["validation_start"]
    assert model.metadata["validation_window"]["metrics"]["rmspe"] == pytest.approx(metrics["rmspe"])
    history = pd.read_csv(lstm_ws / "data" / "08_reporting" / "lstm_training_history.csv")
    assert set(history["phase"]) == {"validation", "served"}
    served = history.loc[history["phase"] == "served"]
    assert len(served) == sum(model.training["epochs_trained"])


def test_reporting_compares_all_models_on_the_backtest_folds(lstm_ws: Path) -> None:
    """reporting reads what the backtest and lstm_model saved; it runs last, on its own."""
    run_pipeline(lstm_ws, "backtest",
                 params=small_backtest_params(["seasonal_naive", "xgboost_v1", "xgboost"]))
    run_pipeline(lstm_ws, "reporting")
    table = pd.read_csv(lstm_ws / "data" / "08_reporting" / "model_comparison.csv")
    sel = json.loads((lstm_ws / "data" / "08_reporting" / "backtest_selection.json").read_text())
    by_model = table.set_index("model")
    assert set(sel["scores"]) | {"lstm (validation window)"} == set(by_model.index)
    for name, s in sel["scores"].items():
        assert by_model.loc[name, "rmspe"] == pytest.approx(s["mean_rmspe"])
        assert by_model.loc[name, "fold_4"] == pytest.approx(s["fold_rmspe"][3])
    lstm = json.loads(next((lstm_ws / "data" / "08_reporting" / "lstm_metrics.json").glob("*/*.json"))
                      .read_text())
    assert by_model.loc["lstm (validation window)", "rmspe"] == pytest.approx(lstm["rmspe"])
    assert table["rmspe"].is_monotonic_increasing
    assert json.loads((lstm_ws / "data" / "08_reporting" / "model_comparison.json").read_text())["data"]
