"""backtest and tree_model through real Kedro sessions on the synthetic default (small model
settings): every model x fold x week is scored, the choice and the intervals come from the
folds, and the served forecaster carries them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.forecaster import PREDICTION_COLUMNS, REQUEST_COLUMNS, Forecaster
from rossmann_kedro.workspace import make_workspace, run_pipeline
from tests.small_params import small_backtest_params

pytestmark = pytest.mark.slow
MODELS = ["seasonal_naive", "xgboost_v1", "random_forest", "xgboost", "lstm"]


def _catalog(ws: Path):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ws)
    with KedroSession.create(project_path=ws) as session:
        return session.load_context().catalog


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = make_workspace(tmp_path_factory.mktemp("backtest") / "ws")
    params = small_backtest_params(MODELS)
    run_pipeline(ws, "data_processing")
    run_pipeline(ws, "feature_engineering")
    run_pipeline(ws, "backtest", params=params)
    run_pipeline(ws, "tree_model", params=params)
    time.sleep(1.1)  # version timestamps have millisecond resolution; keep runs apart
    run_pipeline(ws, "tree_model", params=params)
    run_pipeline(ws, "lstm_model", params=params)
    return ws


def _latest_json(ws: Path, name: str) -> dict:
    versions = sorted((ws / f"data/08_reporting/{name}.json").iterdir())
    return json.loads((versions[-1] / f"{name}.json").read_text())


def test_metrics_table_has_every_model_fold_and_week(workspace: Path) -> None:
    versions = sorted((workspace / "data/08_reporting/backtest_metrics.csv").iterdir())
    table = pd.read_csv(versions[-1] / "backtest_metrics.csv", dtype={"fold": str})
    per_fold = table.loc[table["fold"] != "mean"]
    ensembles = {"blend_50", "blend_40", "blend_30", "blend_rf"}
    expected_models = set(MODELS) | ensembles | {"served", "lstm_served"}
    assert set(per_fold["model"]) == expected_models
    cells = per_fold.groupby("model").apply(lambda g: set(zip(g["fold"], g["week"], strict=False)),
                                            include_groups=False)
    full = {(str(f), w) for f in range(1, 5) for w in range(0, 7)}
    for model, got in cells.items():
        assert got == full, model
    mean = table.loc[table["fold"] == "mean"].set_index(["model", "week"])
    for model in expected_models:
        folds = per_fold.loc[(per_fold["model"] == model) & (per_fold["week"] == 0), "rmspe"]
        assert mean.loc[(model, 0), "rmspe_mean"] == pytest.approx(folds.mean())
        assert mean.loc[(model, 0), "rmspe_std"] == pytest.approx(folds.std())
    # the trees beat the naive baseline on every fold, even with tiny settings
    wk = per_fold.loc[per_fold["week"] == 0].pivot(index="fold", columns="model", values="rmspe")
    assert (wk["served"] < wk["seasonal_naive"]).all()


def test_choice_bias_and_summary_come_from_the_folds(workspace: Path) -> None:
    sel = json.loads((workspace / "data/08_reporting/backtest_selection.json").read_text())
    scores = {m: s["mean_rmspe"] for m, s in sel["scores"].items()}
    servable = {"xgboost_v1", "random_forest", "xgboost", "blend_50", "blend_40", "blend_30",
                "blend_rf"}
    assert sel["chosen"] == min(servable, key=scores.get)
    assert len(sel["folds"]) == 4 and sel["folds"] == sorted(sel["folds"])
    bias = sel["bias"]
    assert bias["applied"] == (bias["factor"] != 1.0)
    assert np.log(bias["factor"]) == pytest.approx(sel["log_shift"])
    assert sel["served"]["mean_rmspe"] == pytest.approx(np.mean(sel["served"]["fold_rmspe"]))
    summary = _latest_json(workspace, "backtest_summary")
    assert summary["chosen"] == sel["chosen"] and summary["horizon_days"] == 42
    assert set(summary["intervals"]) == {"80", "95"}
    assert len(summary["intervals"]["80"]["coverage_by_week"]) == 6


def test_interval_coverage_is_near_nominal_every_week(workspace: Path) -> None:
    cov = pd.read_csv(workspace / "data/08_reporting/backtest_coverage.csv", dtype={"fold": str})
    mean = cov.loc[cov["fold"] == "mean"]
    for level, lo, hi in ((0.8, 0.72, 0.88), (0.95, 0.9, 0.99)):
        weeks = mean.loc[mean["level"] == level]
        assert set(weeks["week"]) == set(range(0, 7))
        assert weeks["coverage"].between(lo, hi).all(), weeks
    # wider bands for the higher level, and bands are not bought by being useless
    w80 = mean.loc[(mean["level"] == 0.8) & (mean["week"] == 0), "mean_relative_width"].item()
    w95 = mean.loc[(mean["level"] == 0.95) & (mean["week"] == 0), "mean_relative_width"].item()
    assert 0 < w80 < w95 < 1.5


def test_worst_stores_and_plots(workspace: Path) -> None:
    worst = pd.read_csv(workspace / "data/08_reporting/backtest_worst_stores.csv")
    assert set(worst["fold"]) == {1, 2, 3, 4}
    assert worst.groupby("fold")["rank"].max().eq(20).all()
    for _, g in worst.groupby("fold"):
        assert g["share_of_squared_error"].is_monotonic_decreasing
    assert worst["worst_day_share"].between(0, 1).all() and worst["worst_date"].notna().all()
    for name in ("backtest_error", "backtest_coverage"):
        fig = json.loads((workspace / f"data/08_reporting/{name}.json").read_text())
        assert fig["data"]


def test_served_forecaster_carries_the_backtest(workspace: Path) -> None:
    catalog = _catalog(workspace)
    forecaster = catalog.load("tree_forecaster")
    assert isinstance(forecaster, Forecaster)
    sel = json.loads((workspace / "data/08_reporting/backtest_selection.json").read_text())
    meta = forecaster.metadata
    assert meta["estimator"] == sel["chosen"] and meta["members"] == sel["members"]
    assert meta["backtest"]["mean_rmspe"] == pytest.approx(sel["served"]["mean_rmspe"])
    assert forecaster.weights == pytest.approx(list(sel["members"].values()))
    assert forecaster.log_shift == pytest.approx(sel["log_shift"])
    assert forecaster.event_weights == sel["event_weights"] == meta["event_weights"]
    # the served bands are the backtest's calibration, by horizon week
    calib = catalog.load("backtest_interval_calibration")
    assert forecaster.interval.q_high == calib.q_high and len(calib.q_high) == 6
    test = catalog.load("test_clean")
    batch = catalog.load("tree_test_predictions")
    closed = batch["Open"] == 0
    assert closed.any() and (batch.loc[closed, list(PREDICTION_COLUMNS)] == 0).all().all()
    assert (batch.loc[~closed, "Sales"] > 0).all()
    assert (batch["lower"] <= batch["Sales"]).all() and (batch["Sales"] <= batch["upper"]).all()
    served = forecaster.predict(test[list(REQUEST_COLUMNS)])
    np.testing.assert_allclose(served["Sales"].to_numpy(), batch["Sales"].to_numpy(), rtol=1e-9)
    assert forecaster.check_fast_path(test) <= 1e-9  # numpy scoring path == sklearn Pipelines
    one = forecaster.predict(test[list(REQUEST_COLUMNS)].iloc[[5]])
    np.testing.assert_allclose(one.to_numpy(), served.iloc[[5]].to_numpy(), rtol=1e-6)
    sub = pd.read_csv(workspace / "data/07_model_output/tree_submission.csv")
    assert list(sub.columns) == ["Id", "Sales"] and len(sub) == len(test)
    # bands widen with the horizon week as the backtest found, never narrower than week 1's
    open_rows = test.loc[test["Open"] == 1, list(REQUEST_COLUMNS)]
    width = (served.loc[open_rows.index, "upper"] - served.loc[open_rows.index, "lower"])
    assert (width > 0).all()


def test_versioned_round_trip(workspace: Path) -> None:
    versions = sorted(p.name for p in (workspace / "data/06_models/tree_forecaster.pkl").iterdir())
    assert len(versions) == 2
    from kedro.io import DataCatalog

    config = {"tree_forecaster": {"type": "pickle.PickleDataset", "backend": "joblib",
                                  "filepath": str(workspace / "data/06_models/tree_forecaster.pkl"),
                                  "versioned": True}}
    first = DataCatalog.from_config(config, load_versions={"tree_forecaster": versions[0]})
    newest = DataCatalog.from_config(config, load_versions={"tree_forecaster": versions[-1]})
    older, latest = first.load("tree_forecaster"), newest.load("tree_forecaster")
    assert older.metadata["trained_at"] <= latest.metadata["trained_at"]
    for key in ("name", "trained_at", "train_start", "train_end", "metrics", "interval_level",
                "feature_names", "coverage", "backtest"):
        assert key in latest.metadata
    doc = _latest_json(workspace, "tree_model_metrics")
    assert doc["backtest"]["mean_rmspe"] == pytest.approx(latest.metadata["metrics"]["rmspe"])


def test_served_lstm_reports_its_backtest_figures(workspace: Path) -> None:
    """The folds fit the LSTM as lstm_model fits the served one, so the served LSTM reports the
    folds' figures and is served with bands calibrated on its out-of-sample residuals, as the
    tree is; its own bands' coverage on the folds is kept for the record."""
    preds = pd.read_parquet(workspace / "data/07_model_output/backtest_predictions.parquet")
    summary = _latest_json(workspace, "backtest_lstm_summary")
    sel = json.loads((workspace / "data/08_reporting/backtest_selection.json").read_text())
    # the served LSTM is the network plus the store event gaps and the bias correction that
    # held for it on the folds
    assert summary["event_weights"] == sel["lstm_events"]["weights"]
    assert summary["bias_factor"] == sel["lstm_bias"]["factor"]
    served = (preds["lstm"] + sum(w * preds[e] for e, w in summary["event_weights"].items())
              + np.log(summary["bias_factor"]))
    np.testing.assert_allclose(preds["lstm_served"], served)
    assert summary["fold_rmspe"] == pytest.approx(sel["lstm_served"]["fold_rmspe"])
    assert summary["network_mean_rmspe"] == pytest.approx(sel["scores"]["lstm"]["mean_rmspe"])
    assert summary["folds"] == sel["folds"] and summary["chosen"] == "lstm"
    # its own bands' coverage recomputed from the stored out-of-sample bounds, fold by fold
    p = preds.loc[preds["Sales"] > 0]
    lo, hi = np.expm1(p["lstm_lower"]), np.expm1(p["lstm_upper"])
    assert (lo <= np.expm1(p["lstm"]) + 1e-6).all() and (np.expm1(p["lstm"]) <= hi + 1e-6).all()
    hit = p.assign(hit=(p["Sales"] >= lo) & (p["Sales"] <= hi)).groupby("fold")["hit"].mean()
    own = summary["own_bands"]
    assert own["coverage_by_fold"] == pytest.approx(hit.tolist())
    assert own["coverage"] == pytest.approx(hit.mean()) and len(own["coverage_by_week"]) == 6
    # the served bands: each fold calibrated on the others (how near nominal they come is
    # test_intervals.py's concern: a 2-epoch network errs differently on every fold)
    cov = pd.read_csv(workspace / "data/08_reporting/backtest_lstm_coverage.csv",
                      dtype={"fold": str})
    for level, key in ((0.8, "80"), (0.95, "95")):
        mean = cov.loc[(cov["fold"] == "mean") & (cov["level"] == level)]
        assert set(mean["week"]) == set(range(7))
        band = summary["intervals"][key]
        assert band["coverage"] == pytest.approx(mean.loc[mean["week"] == 0, "coverage"].item())
        per_fold = cov.loc[(cov["fold"] != "mean") & (cov["level"] == level) & (cov["week"] == 0)]
        assert band["coverage_by_fold"] == pytest.approx(per_fold["coverage"].tolist())
    assert 0.5 < summary["intervals"]["80"]["coverage"] < summary["intervals"]["95"]["coverage"]
    fig = json.loads((workspace / "data/08_reporting/backtest_coverage.json").read_text())
    names = {t["name"] for t in fig["data"]}
    assert {"LSTM 80% interval", "LSTM 80% own bands (not served)"} <= names
    # the bounds are not model columns: no model named after them is scored
    assert not {"lstm_lower", "lstm_upper", "store_carnival_effect"} & set(sel["scores"])

    catalog = _catalog(workspace)
    model = catalog.load("lstm_forecaster")
    calib = catalog.load("backtest_lstm_interval_calibration")
    assert model.metadata["backtest"] == summary
    assert model.event_weights == summary["event_weights"] == model.metadata["event_weights"]
    assert model.log_shift == pytest.approx(np.log(summary["bias_factor"]))
    assert model.metadata["bias_factor"] == pytest.approx(summary["bias_factor"])
    assert model.metadata["metrics"]["rmspe"] == pytest.approx(summary["mean_rmspe"])
    assert model.metadata["coverage"] == pytest.approx(summary["intervals"]["80"]["coverage"])
    assert model.interval.q_high == calib.q_high and calib.level == 0.8
    rows = catalog.load("test_clean")
    rows = rows.loc[(rows["Open"] == 1) & rows["Store"].isin(model.stores)].head(50)
    out = model.predict(rows)
    lead = (rows["Date"] - pd.Timestamp(model.metadata["history_end"])).dt.days.to_numpy()
    want_lo, want_hi = calib.bounds(rows["Store"].to_numpy(), np.log1p(out["Sales"].to_numpy()),
                                    lead)
    np.testing.assert_allclose(out["lower"], np.minimum(want_lo, out["Sales"]), rtol=1e-9)
    np.testing.assert_allclose(out["upper"], np.maximum(want_hi, out["Sales"]), rtol=1e-9)
    metrics = catalog.load("lstm_metrics")
    assert model.metadata["validation_window"]["metrics"]["rmspe"] == pytest.approx(metrics["rmspe"])

    # figures of other settings are not claimed by this model: own bands, validation window
    from rossmann_kedro.models.lstm import LeadBandedInterval
    from rossmann_kedro.pipelines.lstm_model.nodes import build_forecaster

    trained = catalog.load("lstm_forecaster")
    trained.interval = own_bands = LeadBandedInterval(0.8, 14)
    # a bias factor the backtest learnt for these settings is applied; a nonsensical one refused
    tilted = {**summary, "bias_factor": 0.97}
    corrected = build_forecaster(trained, metrics, tilted, calib)
    assert corrected.log_shift == pytest.approx(np.log(0.97))
    assert corrected.metadata["bias_factor"] == pytest.approx(0.97)
    with pytest.raises(ValueError, match="bias_factor"):
        build_forecaster(trained, metrics, {**summary, "bias_factor": 0.0}, calib)
    other = {**tilted, "settings": {**summary["settings"], "window_days": 99}}
    rebuilt = build_forecaster(trained, metrics, other, calib)
    assert "backtest" not in rebuilt.metadata and rebuilt.interval is own_bands
    assert rebuilt.event_weights == {}      # weights learnt for other settings are not applied
    assert rebuilt.log_shift == 0.0 and "bias_factor" not in rebuilt.metadata
    assert rebuilt.metadata["metrics"]["rmspe"] == pytest.approx(metrics["rmspe"])
