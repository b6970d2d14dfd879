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


def test_horizon_conformal_bands_hold_per_week_and_widen_with_horizon() -> None:
    from rossmann_kedro.models.intervals import HorizonConformalInterval

    rng = np.random.default_rng(3)
    n = 40_000
    stores = rng.integers(0, 50, n)
    horizon = rng.integers(1, 43, n)
    sigma = (0.05 + 0.1 * (stores % 5) / 4) * (1 + horizon / 42)   # store and horizon effects
    calib = HorizonConformalInterval(level=0.8, band_days=7).fit(
        stores, horizon, rng.normal(0, sigma))
    assert len(calib.q_low) == 6 and calib.q_high[-1] > calib.q_high[0]
    pred_log = np.full(n, np.log1p(5000.0))
    actual = np.expm1(pred_log + rng.normal(0, sigma))
    lo, hi = calib.bounds(stores, pred_log, horizon)
    for week in range(6):
        sel = (horizon - 1) // 7 == week
        assert 0.77 <= coverage(actual[sel], lo[sel], hi[sel]) <= 0.83
    # horizons beyond the calibrated weeks use the last band; day 0 the first
    far = calib.bounds(stores[:5], pred_log[:5], np.full(5, 90))
    last = calib.bounds(stores[:5], pred_log[:5], np.full(5, 42))
    np.testing.assert_array_equal(far[1], last[1])


def test_forecaster_rejects_bad_member_weights() -> None:
    from rossmann_kedro.models.tree import TreeForecaster

    with pytest.raises(ValueError, match="sum to 1"):
        TreeForecaster(context=None, members=[object(), object()], weights=[0.5, 0.6],
                       interval=None)
    with pytest.raises(ValueError, match="one weight per member"):
        TreeForecaster(context=None, members=[object()], weights=[0.5, 0.5], interval=None)
