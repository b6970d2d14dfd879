"""The monitoring pipeline on synthetic data with planted drift and planted errors: the drift
report must flag exactly the features that were made to drift, and the accuracy report must
find the store and the model version whose forecasts were made wrong. The pipeline runs in a real
Kedro session on a log written through the catalog dataset, as the server writes it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.datasets.prediction_log import LOG_COLUMNS, PredictionLogDataset
from rossmann_kedro.pipelines.monitoring.config import AccuracyConfig, DriftConfig
from rossmann_kedro.pipelines.monitoring.nodes import input_drift, psi, served_accuracy
from rossmann_kedro.synthetic import generate

DRIFT = DriftConfig(reference_weeks=52, horizon_days=42, psi_threshold=0.2, p_value=0.01,
                    min_rows=200, since=None)
ACCURACY = AccuracyConfig(since=None, worst_stores=3)
FEATURES = ["promo share", "open share", "state holiday mix", "school holiday share",
            "weekday mix", "store mix", "days ahead of training end"]


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    train = generate(n_stores=20, seed=5)["train"]
    return train.assign(Date=pd.to_datetime(train["Date"]))


def make_log(rows: pd.DataFrame, rng: np.random.Generator, train_end: pd.Series,
             version: str = "v1", factor: float | np.ndarray = 1.0) -> pd.DataFrame:
    """Log records for `rows` (sales_clean rows), predicting actual x noise x `factor` with a
    +-20 % interval around the prediction."""
    truth = rows["Sales"].to_numpy(float)
    pred = truth * rng.normal(1.0, 0.04, len(rows)) * factor
    return pd.DataFrame({
        "request_time": pd.Timestamp("2015-06-20T10:00:00", tz="UTC"),
        "method": "Predict", "model": "tree", "version": version,
        "train_end": pd.to_datetime(train_end).dt.strftime("%Y-%m-%d").to_numpy(),
        "Store": rows["Store"].to_numpy(), "Date": rows["Date"].to_numpy(),
        "DayOfWeek": rows["DayOfWeek"].to_numpy(), "Open": rows["Open"].to_numpy(),
        "Promo": rows["Promo"].to_numpy(), "StateHoliday": rows["StateHoliday"].astype(str).to_numpy(),
        "SchoolHoliday": rows["SchoolHoliday"].to_numpy(),
        "Id": pd.array([None] * len(rows), dtype="Int64"),
        "Sales": pred, "lower": pred * 0.8, "upper": pred * 1.2,
    })[list(LOG_COLUMNS)]


def like_training(sales: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Served rows drawn from the training year itself, each asked 1..42 days ahead."""
    rng = np.random.default_rng(seed)
    end = sales["Date"].max()
    pool = sales.loc[sales["Date"] > end - pd.Timedelta(weeks=52)]
    rows = pool.sample(n, random_state=seed)
    ahead = pd.to_timedelta(rng.integers(1, 43, n), unit="D")
    train_end = (rows["Date"] - ahead).clip(upper=end)
    return make_log(rows, rng, train_end.reset_index(drop=True))


def test_psi_is_zero_for_equal_mixes_and_grows_with_the_shift() -> None:
    assert psi(np.array([50, 50]), np.array([500, 500])) == pytest.approx(0, abs=1e-9)
    assert psi([60, 40], [50, 50]) < psi([80, 20], [50, 50]) < psi([95, 5], [50, 50])


def test_no_drift_when_requests_look_like_training(sales) -> None:
    table, summary, fig = input_drift(like_training(sales, 3000, seed=1), sales, DRIFT)
    assert table["feature"].tolist() == FEATURES
    assert (table["status"] == "ok").all(), table
    assert summary["drifted"] == [] and summary["served_rows"] == 3000
    assert fig.data[0].y.tolist() == pytest.approx(table["psi"].tolist())


def test_planted_drift_is_found_and_nothing_else(sales) -> None:
    log = like_training(sales, 3000, seed=2)
    rng = np.random.default_rng(3)
    log["Promo"] = (rng.random(len(log)) < 0.9).astype(np.int64)      # promo share 0.9
    stores = sorted(sales["Store"].unique())[:2]
    log["Store"] = rng.choice(stores, len(log))                         # two stores only
    log["train_end"] = (log["Date"] - pd.Timedelta(days=120)).dt.strftime("%Y-%m-%d")  # far out
    table, summary, _ = input_drift(log, sales, DRIFT)
    status = dict(zip(table["feature"], table["status"], strict=True))
    assert summary["drifted"] == ["promo share", "store mix", "days ahead of training end"]
    assert {f for f, s in status.items() if s == "ok"} == set(FEATURES) - set(summary["drifted"])
    promo = summary["features"]["promo share"]
    assert float(promo["served"]) == pytest.approx(0.9, abs=0.03) and promo["p_value"] < 1e-6
    assert "1.000 beyond 42" in summary["features"]["days ahead of training end"]["served"]


def test_too_few_rows_gives_no_verdict(sales) -> None:
    table, summary, _ = input_drift(like_training(sales, 50, seed=4), sales, DRIFT)
    assert (table["status"] == "too few rows").all() and summary["drifted"] == []


def test_served_accuracy_finds_the_planted_store_and_version(sales) -> None:
    rng = np.random.default_rng(7)
    end = sales["Date"].max()
    served = sales.loc[(sales["Date"] > end - pd.Timedelta(weeks=6)) & (sales["Open"] == 1)]
    served = served.reset_index(drop=True)
    train_end = pd.Series(end - pd.Timedelta(weeks=6), index=served.index)
    bad_store = int(sorted(sales["Store"].unique())[4])
    factor = np.where(served["Store"] == bad_store, 1.6, 1.0)           # one store 60 % high
    late = served["Date"] > end - pd.Timedelta(weeks=2)
    v1 = make_log(served.loc[~late], rng, train_end[~late], "v1", factor[~late])
    v2 = make_log(served.loc[late], rng, train_end[late], "v2", 0.7 * factor[late])  # 30 % low
    log = pd.concat([v1, v2], ignore_index=True)
    # a served day whose sales are not known yet is not scored
    future = make_log(served.head(5).assign(Date=end + pd.Timedelta(days=3)), rng,
                      train_end.head(5), "v2")
    log = pd.concat([log, future], ignore_index=True)

    by_week, by_version, by_store, summary, fig = served_accuracy(log, sales, ACCURACY)
    assert summary["rows_with_actuals"] == len(log) - 5
    version = by_version.set_index("version")
    assert version.loc["v2", "rmspe"] > 0.25 > 0.15 > version.loc["v1", "rmspe"]
    assert version.loc["v2", "coverage"] < 0.2 < 0.7 < version.loc["v1", "coverage"]
    assert by_store.iloc[0]["Store"] == bad_store and by_store.iloc[0]["rmspe"] > 0.4
    assert summary["worst_stores"][0]["Store"] == bad_store
    good = by_store.loc[by_store["Store"] != bad_store, "rmspe"]
    assert good.max() < by_store.iloc[0]["rmspe"] / 2
    # weeks: six Mondays (7 with a partial week), each with the version that served it
    assert set(by_week["version"]) == {"v1", "v2"} and 6 <= by_week["week"].nunique() <= 7
    assert (pd.to_datetime(by_week["week"]).dt.weekday == 0).all()
    assert by_week.loc[by_week["version"] == "v2", "rmspe"].min() > 0.25
    assert len(fig.data) == 4  # RMSPE and coverage, per version


def test_no_actuals_yet_says_so(sales) -> None:
    rng = np.random.default_rng(8)
    rows = sales.tail(20).assign(Date=sales["Date"].max() + pd.Timedelta(days=10))
    log = make_log(rows, rng, pd.Series(sales["Date"].max(), index=rows.index))
    _, by_version, _, summary, _ = served_accuracy(log, sales, ACCURACY)
    assert by_version.empty and summary["scored_rows"] == 0 and "newer train.csv" in summary["message"]


@pytest.mark.slow
def test_monitoring_pipeline_runs_in_kedro_on_the_catalog_log(tmp_path) -> None:
    from rossmann_kedro.synthetic import write_csvs
    from rossmann_kedro.workspace import make_workspace, run_pipeline

    ws = make_workspace(tmp_path / "ws")
    tables = generate(n_stores=20, seed=5)
    write_csvs(ws / "data" / "01_raw", tables=tables)
    run_pipeline(ws, "data_processing")
    sales = pd.read_parquet(ws / "data" / "02_intermediate" / "sales_clean.parquet")
    log = like_training(sales, 1000, seed=9)
    log["Promo"] = 1  # planted: every request a promo day
    PredictionLogDataset(str(ws / "data" / "09_prediction_log")).save(log)
    run_pipeline(ws, "monitoring")
    out = ws / "data" / "08_reporting" / "monitoring"
    drift = json.loads((out / "input_drift.json").read_text())
    assert drift["drifted"] == ["promo share"] and drift["served_rows"] == 1000
    accuracy = json.loads((out / "accuracy.json").read_text())
    actual = log.merge(sales[["Store", "Date", "Sales"]].rename(columns={"Sales": "actual"}),
                       on=["Store", "Date"])["actual"]
    assert accuracy["rows_with_actuals"] == 1000
    assert accuracy["scored_rows"] == int((actual > 0).sum()) > 500  # open days with sales
    assert accuracy["by_version"][0]["rmspe"] < 0.1
    for name in ("input_drift.csv", "accuracy_by_week.csv", "accuracy_by_version.csv",
                 "accuracy_by_store.csv", "input_drift_plot.json", "accuracy_plot.json"):
        assert (out / name).stat().st_size > 0, name
