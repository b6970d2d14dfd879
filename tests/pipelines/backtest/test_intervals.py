"""Interval calibration across folds that are not exchangeable (seasons): the band levels chosen
by leave-one-fold-out must bring a new fold's coverage back to nominal, and change nothing when
the folds are alike. Synthetic residuals with a planted hard fold are the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.models.intervals import HorizonConformalInterval, adjusted_band_levels
from rossmann_kedro.pipelines.backtest.nodes import calibrate_intervals

SEARCH = {"below": 0.02, "above": 0.10, "step": 0.005}


def _predictions(fold_sigma: list[float], seed: int = 0,
                 fold_bias: list[float] | None = None) -> pd.DataFrame:
    """Backtest predictions: 60 stores x 42 days per fold, log residuals N(bias, sigma) with a
    store effect on sigma; fold k's errors are `fold_sigma[k]` times as large and shifted by
    `fold_bias[k]` (a season the model over- or under-forecasts)."""
    fold_bias = fold_bias or [0.0] * len(fold_sigma)
    rng = np.random.default_rng(seed)
    frames = []
    for k, (fold_scale, bias) in enumerate(zip(fold_sigma, fold_bias, strict=True), start=1):
        store, horizon = np.meshgrid(np.arange(1, 61), np.arange(1, 43), indexing="ij")
        store, horizon = store.ravel(), horizon.ravel()
        sigma = fold_scale * 0.06 * (1 + (store % 4) / 3)
        served = np.full(store.size, np.log1p(6000.0))
        sales = np.round(np.expm1(served + rng.normal(bias, sigma)))
        frames.append(pd.DataFrame({
            "fold": k, "Store": store, "horizon_days": horizon, "week": (horizon - 1) // 7 + 1,
            "Sales": sales.astype(np.int64), "served": served}))
    return pd.concat(frames, ignore_index=True)


def _coverage(predictions: pd.DataFrame, level_search: dict | None) -> pd.DataFrame:
    params = {"intervals": {"levels": [0.8, 0.95], "band_days": 7, "shrinkage": 10.0,
                            "level_search": level_search}}
    served, table = calibrate_intervals(predictions, {"intervals": {"level": 0.8}}, params)
    assert isinstance(served, HorizonConformalInterval)
    return table.loc[table["fold"] == "mean"].set_index(["level", "week"])


def test_band_levels_restore_coverage_when_one_fold_is_harder() -> None:
    # three folds the model under-forecasts a little, one (a "January") it over-forecasts with
    # larger errors: as on the real data
    p = _predictions([1.0, 1.0, 1.0, 1.3], fold_bias=[0.02, 0.02, 0.02, -0.05])
    nominal = _coverage(p, None)
    adjusted = _coverage(p, SEARCH)
    for level in (0.8, 0.95):
        # calibrated at the nominal level, the hard fold drags a new fold's coverage down ...
        assert nominal.loc[(level, 0), "coverage"] < level - 0.015
        # ... the levels chosen leave-one-fold-out (never on the scored fold) bring it back
        assert abs(adjusted.loc[(level, 0), "coverage"] - level) < 0.015
        weeks = adjusted.loc[level].drop(index=0)["coverage"]
        assert (abs(weeks - level) < 0.03).all(), weeks
        assert (adjusted.loc[(level, 0), "mean_relative_width"]
                > nominal.loc[(level, 0), "mean_relative_width"])


def test_band_levels_stay_nominal_when_folds_are_alike() -> None:
    p = _predictions([1.0, 1.0, 1.0, 1.0], seed=1)
    resid = np.log1p(p["Sales"].to_numpy(float)) - p["served"].to_numpy()
    grid = [round(v, 4) for v in np.arange(0.78, 0.9001, 0.005)]
    levels = adjusted_band_levels(p["Store"].to_numpy(), p["horizon_days"].to_numpy(), resid,
                                  p["fold"].to_numpy(), 0.8, grid, 7, 10.0)
    assert len(levels) == 6 and all(abs(v - 0.8) <= 0.02 for v in levels), levels
    assert abs(_coverage(p, SEARCH).loc[(0.8, 0), "coverage"] - 0.8) < 0.015


def test_one_fold_has_nothing_to_leave_out() -> None:
    p = _predictions([1.0])
    resid = np.log1p(p["Sales"].to_numpy(float)) - p["served"].to_numpy()
    assert adjusted_band_levels(p["Store"].to_numpy(), p["horizon_days"].to_numpy(), resid,
                                p["fold"].to_numpy(), 0.8, [0.8, 0.85], 7, 10.0) is None
    interval = HorizonConformalInterval(level=0.8, band_levels=None).fit(
        p["Store"].to_numpy(), p["horizon_days"].to_numpy(), resid)
    assert [interval.level_of_band(b) for b in range(6)] == [0.8] * 6


@pytest.mark.parametrize("band_levels", [[0.9] * 6, [0.8, 0.8, 0.8, 0.8, 0.8, 0.9]])
def test_band_levels_widen_only_their_bands(band_levels: list[float]) -> None:
    p = _predictions([1.0, 1.0], seed=2)
    resid = np.log1p(p["Sales"].to_numpy(float)) - p["served"].to_numpy()
    args = (p["Store"].to_numpy(), p["horizon_days"].to_numpy(), resid)
    base = HorizonConformalInterval(level=0.8).fit(*args)
    wide = HorizonConformalInterval(level=0.8, band_levels=band_levels).fit(*args)
    for b, lv in enumerate(band_levels):
        widened = wide.q_high[b] - wide.q_low[b] > base.q_high[b] - base.q_low[b]
        assert widened == (lv > 0.8), b


def test_a_single_fold_run_serves_nominal_intervals_and_reports_no_coverage() -> None:
    """`backtest.n_folds: 1` (a cheap run) must not fail: no fold has others to be calibrated
    on, so no coverage is reported and the served intervals use the nominal levels."""
    from rossmann_kedro.pipelines.backtest.nodes import backtest_summary, coverage_figure

    p = _predictions([1.0], seed=3)
    params = {"intervals": {"levels": [0.8, 0.95], "band_days": 7, "shrinkage": 10.0,
                            "level_search": SEARCH}}
    served, table = calibrate_intervals(p, {"intervals": {"level": 0.8}}, params)
    assert served.band_levels is None and len(served.q_low) == 6
    assert table.empty and {"level", "fold", "week", "coverage"} <= set(table.columns)
    assert not coverage_figure(table, {}).data  # an empty plot, not a failed run
    selection = {"folds": ["2015-05-09"], "chosen": "x", "members": {"x": 1.0}, "log_shift": 0.0,
                 "event_weights": {},
                 "served": {"mean_rmspe": 0.1, "std_rmspe": 0.0, "fold_rmspe": [0.1]},
                 "scores": {}}
    assert backtest_summary(selection, table, p)["intervals"] == {}


def test_lstm_bands_are_calibrated_on_its_fold_residuals() -> None:
    """The LSTM's served bands come from its own out-of-sample residuals on the folds, at its
    own level; a backtest without the LSTM gives none (lstm_model keeps the network's bands)."""
    from rossmann_kedro.pipelines.backtest.nodes import calibrate_lstm_intervals

    params = {"intervals": {"levels": [0.8, 0.95], "band_days": 7, "shrinkage": 10.0,
                            "level_search": SEARCH}}
    predictions = _predictions([1.0, 1.2, 0.9, 1.1], seed=5)
    calibration, table = calibrate_lstm_intervals(predictions, {"interval_level": 0.8}, params)
    assert calibration == {} and table.empty
    # an LSTM twice as wrong as the served tree gets bands about twice as wide, near nominal
    noise = np.random.default_rng(6).normal(0.0, 0.06, len(predictions))
    resid = np.log1p(predictions["Sales"]) - predictions["served"]
    # the served LSTM (`select_model`'s `lstm_served`: the network with its event gaps)
    with_lstm = predictions.assign(
        lstm_served=np.log1p(predictions["Sales"]) - 2 * resid + noise)
    calibration, table = calibrate_lstm_intervals(with_lstm, {"interval_level": 0.7}, params)
    tree, _ = calibrate_intervals(with_lstm, {"intervals": {"level": 0.7}}, params)
    assert calibration.level == 0.7 and calibration.global_scale > 1.8 * tree.global_scale
    mean = table.loc[(table["fold"] == "mean") & (table["week"] == 0)].set_index("level")
    assert 0.74 <= mean.loc[0.8, "coverage"] <= 0.86
    assert 0.9 <= mean.loc[0.95, "coverage"] <= 0.99
