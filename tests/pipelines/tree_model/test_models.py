"""Shared model helpers: metrics, seasonal-naive, conformal intervals, the numpy tree scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.models import metrics as mx
from rossmann_kedro.models.intervals import (
    ConformalLogInterval,
    coverage,
    cross_conformal_coverage,
)
from rossmann_kedro.models.tree import _NumpyTrees


def test_metrics_ignore_zero_sales_rows() -> None:
    y = np.array([100.0, 200.0, 0.0])
    p = np.array([110.0, 180.0, 50.0])
    assert mx.rmspe(y, p) == pytest.approx(np.sqrt((0.1**2 + 0.1**2) / 2))
    assert mx.rmse(y, p) == pytest.approx(np.sqrt((100 + 400) / 2))
    assert mx.mae(y, p) == pytest.approx(15.0)
    assert mx.evaluate(y, p)["n"] == 2


def test_seasonal_naive_uses_the_previous_weeks_median() -> None:
    dates = pd.date_range("2015-01-01", periods=70, freq="D")
    hist = pd.DataFrame({"Store": 1, "Date": dates, "DayOfWeek": dates.day_of_week + 1,
                         "Sales": np.arange(70) + 100, "Open": 1})
    target = pd.DataFrame({"Store": [1, 1], "Date": pd.to_datetime(["2015-03-12", "2015-03-13"]),
                           "DayOfWeek": [4, 5], "Open": [1, 0]})
    pred = mx.seasonal_naive(hist, target, weeks=8)
    thursdays = hist.loc[(hist["DayOfWeek"] == 4) & (hist["Date"] >= "2015-01-15"), "Sales"]
    assert pred[0] == thursdays.median() and pred[1] == 0.0


def test_conformal_intervals_reach_nominal_coverage_on_fresh_draws() -> None:
    rng = np.random.default_rng(0)
    stores = np.repeat(np.arange(50), 60)
    sigma = 0.05 + 0.15 * (np.arange(50) % 5) / 4            # stores differ in volatility
    def draw():
        return rng.normal(0, sigma[stores])
    calib = ConformalLogInterval(level=0.8).fit(stores, draw())
    pred_log = np.full(len(stores), np.log1p(5000.0))
    actual = np.expm1(pred_log + draw())
    lo, hi = calib.bounds(stores, pred_log)
    assert 0.76 <= coverage(actual, lo, hi) <= 0.84
    # per-store scale: volatile stores get wider bands
    width = pd.Series(hi - lo).groupby(stores).mean()
    assert width[4] > 2 * width[0]
    dates = pd.Series(pd.date_range("2015-01-01", periods=60).tolist() * 50)
    rep = cross_conformal_coverage(dates, stores, actual, pred_log, 0.8)
    assert 0.74 <= rep["coverage"] <= 0.86


def test_numpy_trees_equal_xgboost_exactly() -> None:
    from xgboost import XGBRegressor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) * 2 + np.sin(np.nan_to_num(X[:, 1])) + rng.normal(0, 0.1, 3000)
    model = XGBRegressor(n_estimators=40, max_depth=6, tree_method="hist", n_jobs=1).fit(X, y)
    booster = model.get_booster()
    trees = _NumpyTrees(booster)
    want = booster.inplace_predict(X)
    for size in (1, 7, 128):  # one row, a few, the largest batch _FastScorer sends here
        got = np.concatenate([trees.predict(X[i:i + size]) for i in range(0, len(X), size)])
        np.testing.assert_array_equal(got.astype(np.float32), want)
    no_nan = np.nan_to_num(X[:64])  # the walk skips the missing-value rule when nothing is NaN
    np.testing.assert_array_equal(trees.predict(no_nan).astype(np.float32),
                                  booster.inplace_predict(no_nan))
