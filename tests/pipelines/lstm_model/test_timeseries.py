"""Windows, the (-1, 1) scaler and the stationarity helpers of `rossmann_kedro.timeseries`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro import timeseries as ts

from .conftest import planted_tables


@pytest.fixture(scope="module")
def grid():
    sales, _, _ = planted_tables(n_stores=3, days=200)
    # a closed Sunday-like gap and a missing stretch, so validity is not trivially all-true
    sales.loc[(sales["Store"] == 2) & (sales["Date"].dt.day_of_week == 6), ["Open", "Sales"]] = 0
    sales = sales.loc[~((sales["Store"] == 3) & sales["Date"].between("2014-03-01", "2014-03-20"))]
    return ts.build_grid(sales)


def test_grid_shapes_and_validity(grid) -> None:
    assert grid.log_sales.shape == (3, 200) == grid.valid.shape
    assert not grid.valid[1, grid.day_index("2014-01-05")]              # store 2, a Sunday
    assert not grid.observed[2, grid.day_index("2014-03-10")]           # store 3, missing
    assert np.isnan(grid.log_sales[~grid.valid]).all()
    assert np.isfinite(grid.log_sales[grid.valid]).all()


def test_window_builder_shapes_and_no_leakage_across_the_split(grid) -> None:
    window, horizon, k = 14, 21, 10
    split = 150  # training targets <= split; held-out targets in (split, 199]
    rng = np.random.default_rng(0)
    train = ts.supervised_samples(grid, window, horizon, 0, split - 1, 0, split, 3, k, 5, rng)
    held = ts.supervised_samples(grid, window, horizon, split - horizon + 1, split, split + 1,
                                 grid.n_days - 1, 7, k, 5, rng)
    for s in (train, held):
        assert s.target.shape == s.weight.shape == (len(s), k)
        real = s.weight > 0
        assert real.any(axis=1).all()
        lead = s.target - s.anchor[:, None]
        assert (lead >= 1).all() and (lead[real] <= horizon).all()       # targets after the window
        assert grid.valid[s.store_idx[:, None].repeat(k, 1)[real], s.target[real]].all()
        x = ts.window_tensor(grid, s.store_idx, s.anchor, window, np.zeros(len(s)),
                             (np.ones(1), np.zeros(1)))
        assert x.shape == (len(s), window, len(ts.WINDOW_FEATURES))
        assert (ts.window_indices(s.anchor, window) <= s.anchor[:, None]).all()
    assert train.target[train.weight > 0].max() <= split                 # no training target
    assert train.anchor.max() < split                                    # after the split
    assert held.target[held.weight > 0].min() > split
    assert held.anchor.max() <= split
    # every weekday is an anchor somewhere (random phase per store)
    assert len(np.unique((grid.start_day + train.anchor) % 7)) == 7


def test_window_inputs_ignore_the_future(grid) -> None:
    """Changing every sale after the anchors changes no window input or level."""
    anchors = np.array([60, 100, 120, 78])
    stores = np.array([0, 1, 2, 2])  # the last window mostly in store 3's missing stretch
    lvl, n_valid = ts.window_levels(grid, stores, anchors, 28, ts.FallbackLevels.fit(grid, 120), 10)
    assert n_valid[-1] < 10 <= n_valid[:-1].min()  # one level comes from the fallback
    x = ts.window_tensor(grid, stores, anchors, 28, lvl, (np.full(1, 0.5), np.zeros(1)))
    changed = ts.SeriesGrid(**{**grid.__dict__, "log_sales": grid.log_sales.copy()})
    changed.log_sales[:, 121:] += 5.0
    # the fallback levels are refitted on the changed grid: they too read nothing after day 120
    lvl2, _ = ts.window_levels(changed, stores, anchors, 28, ts.FallbackLevels.fit(changed, 120), 10)
    x2 = ts.window_tensor(changed, stores, anchors, 28, lvl2, (np.full(1, 0.5), np.zeros(1)))
    np.testing.assert_array_equal(lvl, lvl2)
    np.testing.assert_array_equal(x, x2)


def test_a_data_gap_is_not_a_window_level() -> None:
    """A store without rows for its whole window (back from a refurbishment gap) gets its
    long-run level moved by what the chain did in that window, not its plain long-run mean."""
    rng = np.random.default_rng(5)
    dates = pd.date_range("2014-01-01", periods=300)
    season = np.where(np.arange(300) >= 240, 0.5, 0.0)  # the chain's last 60 days: +0.5 in log
    rows = []
    for store, base in ((1, 8.0), (2, 8.5), (3, 9.0), (4, 8.2)):
        log_sales = base + season + rng.normal(0, 0.05, 300)
        keep = np.ones(300, bool) if store != 4 else np.arange(300) < 200  # store 4: a gap
        rows.append(pd.DataFrame({"Store": store, "Date": dates[keep],
                                  "Sales": np.expm1(log_sales[keep]).round(), "Open": 1,
                                  "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0}))
    grid = ts.build_grid(pd.concat(rows, ignore_index=True))
    end = grid.n_days - 1
    stores = np.arange(4)
    level, n_valid = ts.window_levels(grid, stores, np.full(4, end), 28,
                                      ts.FallbackLevels.fit(grid, end), 7)
    assert n_valid.tolist() == [28, 28, 28, 0]
    true_recent = np.array([8.0, 8.5, 9.0, 8.2]) + 0.5
    np.testing.assert_allclose(level, true_recent, atol=0.03)
    # the plain long-run mean (the old fallback) misses it by the chain's 0.5
    assert abs(ts.store_levels(grid, end)[3] - true_recent[3]) > 0.4


@pytest.mark.parametrize("robust", [0.0, 0.01])
def test_minus_one_one_scaler_inverse_round_trips(robust: float) -> None:
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(8, 0.5, 1000), rng.uniform(-20, 300, 1000)])
    sc = ts.fit_minmax(x, robust)
    z = sc.transform(x)
    if robust == 0.0:
        assert z.min() == pytest.approx(-1) and z.max() == pytest.approx(1)
    else:
        assert np.quantile(z, 0.5, axis=0) == pytest.approx(np.median(z, axis=0))
        assert (np.abs(np.quantile(z, [0.02, 0.98], axis=0)) <= 1 + 1e-12).all()
    np.testing.assert_allclose(sc.inverse_transform(z), x, rtol=1e-12, atol=1e-10)
    scale, mn = ts.scaler_arrays(sc)
    np.testing.assert_allclose(x * scale + mn, z, rtol=1e-12, atol=1e-12)


def test_adf_kpss_tell_a_random_walk_from_noise() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=600)
    walk = np.cumsum(rng.normal(size=600))
    assert ts.adf_kpss(noise)["verdict"] == "stationary"
    assert ts.adf_kpss(walk)["verdict"] == "non-stationary"


def test_stationarity_table_and_acf(grid) -> None:
    s = ts.store_series(grid, 1)
    table = ts.stationarity_table({"store_1": s}, level_window=14)
    assert set(table["transform"]) == {"log", "diff1", "seasonal_diff7", "minus_level"}
    assert {"adf_pvalue", "kpss_pvalue", "verdict"} <= set(table.columns)
    acf = ts.acf_pacf_table({"store_1": s.dropna()}, nlags=21)
    assert len(acf) == 22 and acf["acf"].iloc[0] == pytest.approx(1.0)
    assert acf.loc[acf["lag"] == 7, "acf"].iloc[0] > 0.5                  # the planted week
    fig = ts.acf_pacf_figure(acf, "t")
    assert len(fig.data) == 2


def test_aggregate_series_is_daily(grid) -> None:
    sales, _, _ = planted_tables(n_stores=2, days=60)
    agg = ts.aggregate_series(sales)
    assert isinstance(agg.index, pd.DatetimeIndex) and agg.index.freqstr == "D"
    assert len(agg) == 60 and agg.notna().all()


def test_holiday_targets_are_always_drawn_when_preferred(grid) -> None:
    g = ts.SeriesGrid(**{**grid.__dict__, "state_holiday": grid.state_holiday.copy()})
    g.state_holiday[:, [80, 95, 130]] = 1.0
    s = ts.supervised_samples(g, 14, 21, 60, 120, 0, 150, 5, 4, 5, np.random.default_rng(0),
                              prefer_holidays=True)
    for i in range(len(s)):
        in_range = [d for d in (80, 95, 130)
                    if s.anchor[i] < d <= s.anchor[i] + 21 and g.valid[s.store_idx[i], d]]
        assert set(in_range) <= set(s.target[i][s.weight[i] > 0])
