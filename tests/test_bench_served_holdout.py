"""`benchmarks/bench_served_holdout.py` end to end on synthetic data: weeks held back from
training are forecast by real server and gateway processes, scored against the true sales, and
the monitoring pipeline, reading only the server's prediction log, finds the same figures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.workspace import PROJECT_ROOT

pytestmark = pytest.mark.slow

HOLDOUT_DAYS = 42


@pytest.fixture(scope="module")
def holdout(tmp_path_factory) -> tuple[dict, pd.DataFrame]:
    """(the benchmark's JSON report, the held-back train rows with Sales > 0) for 20 synthetic
    stores (~1 min)."""
    tmp = tmp_path_factory.mktemp("holdout")
    raw = tmp / "raw"
    subprocess.run([sys.executable, "-m", "rossmann_kedro.synthetic", "--out", str(raw),
                    "--stores", "20", "--gzip"], check=True, capture_output=True)
    out = tmp / "report.json"
    run = subprocess.run(
        [sys.executable, "benchmarks/bench_served_holdout.py", "--data", str(raw),
         "--holdout-days", str(HOLDOUT_DAYS), "--out", str(out), "--keep", str(tmp / "work")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    train = pd.read_csv(raw / "train.csv.gz", dtype={"StateHoliday": str})
    dates = pd.to_datetime(train["Date"])
    held = train[(dates > dates.max() - pd.Timedelta(days=HOLDOUT_DAYS)) & (train["Sales"] > 0)]
    return json.loads(out.read_text()), held


def _rows(report: dict, model: str) -> dict[str, dict]:
    return {row["horizon_week"]: row for row in report["models"][model]["rest"]}


def test_every_held_back_day_is_scored_by_horizon_week(holdout) -> None:
    report, held = holdout
    tree = _rows(report, "tree")
    assert set(tree) == {"all", *map(str, range(1, 7))}
    assert tree["all"]["n"] == len(held)
    assert sum(tree[str(w)]["n"] for w in range(1, 7)) == len(held)
    first_week = pd.to_datetime(held["Date"]) <= pd.Timestamp(report["cut"]) + pd.Timedelta(days=7)
    assert tree["1"]["n"] == int(first_week.sum())


def test_the_served_tree_beats_the_seasonal_naive_and_its_band_covers_most_days(holdout) -> None:
    report, _ = holdout
    tree, naive = _rows(report, "tree"), _rows(report, "seasonal_naive")
    # the synthetic data plants promo, holiday and store effects a weekday median cannot see
    assert tree["all"]["rmspe"] < 0.75 * naive["all"]["rmspe"]
    assert 0.65 <= tree["all"]["coverage"] <= 0.95
    assert np.isnan(naive["all"]["coverage"])  # no band to score


def test_the_monitoring_pipeline_finds_the_same_accuracy_in_the_prediction_log(holdout) -> None:
    report, _ = holdout
    tree = report["models"]["tree"]
    (watched,) = tree["monitoring"]  # one served version
    direct = _rows(report, "tree")["all"]
    assert watched["n"] == direct["n"]
    assert watched["rmspe"] == pytest.approx(direct["rmspe"], rel=1e-6)
    assert watched["coverage"] == pytest.approx(direct["coverage"], rel=1e-9)
    backtest = tree["backtest"]
    assert len(backtest["fold_rmspe"]) == len(backtest["folds"]) >= 2
    assert all(fold < report["cut"] for fold in backtest["folds"])
