"""The LSTM's year-ago covariates (`models.lstm.year_ago_covariates`): what the same weekday a
year before did, relative to the window a year before the origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.models.lstm import YEAR_DAYS, year_ago_covariates

WINDOW, MIN_VALID = 28, 7


def _yearly_series(n_days: int = 2 * YEAR_DAYS + 120) -> np.ndarray:
    """Two stores whose log sales repeat every 364 days (a planted season) on different levels."""
    t = np.arange(n_days)
    season = 0.3 * np.sin(2 * np.pi * t / YEAR_DAYS) + 0.1 * ((t % 7) == 0)
    return np.stack([8.0 + season, 9.0 + 0.5 * season])


def test_a_repeating_season_is_read_exactly_from_the_year_before() -> None:
    log_sales = _yearly_series()
    offset = np.zeros_like(log_sales)
    stores = np.array([0, 1, 1])
    anchors = np.array([YEAR_DAYS + 40, YEAR_DAYS + 100, 2 * YEAR_DAYS])
    targets = anchors[:, None] + np.array([1, 7, 30, 100])[None, :]
    out = year_ago_covariates(log_sales, offset, stores, anchors, targets, WINDOW, MIN_VALID)
    level = np.array([log_sales[s, a - WINDOW + 1:a + 1].mean() for s, a in zip(stores, anchors, strict=True)])
    # the training target of the network: the day's log sales less the window level
    target_dev = log_sales[stores[:, None], targets] - level[:, None]
    np.testing.assert_allclose(out[..., 0], target_dev, atol=1e-12)
    assert (out[..., 2] == 1).all()
    # the week is the centred seven-day mean: close to the day for a smooth season
    assert np.abs(out[..., 1] - out[..., 0]).max() < 0.12


def test_cell_offsets_are_taken_out_of_the_year_ago_day() -> None:
    log_sales = _yearly_series()
    offset = np.zeros_like(log_sales)
    promo_days = np.arange(0, log_sales.shape[1], 14)
    log_sales[:, promo_days] += 0.4       # a promo lifts the day by its cell offset
    offset[:, promo_days] = 0.4
    anchors = np.array([YEAR_DAYS + 50])
    # promo days of the horizon; 364 = 26 x 14, so their year-ago days are promo days too
    targets = promo_days[(promo_days > anchors[0]) & (promo_days <= anchors[0] + 100)][None, :]
    plain = year_ago_covariates(log_sales, np.zeros_like(offset), np.array([0]), anchors, targets,
                                WINDOW, MIN_VALID)
    net = year_ago_covariates(log_sales, offset, np.array([0]), anchors, targets, WINDOW, MIN_VALID)
    np.testing.assert_allclose(plain[..., 0] - net[..., 0], 0.4, atol=1e-12)


def test_unknown_in_the_first_year_and_over_a_gap() -> None:
    log_sales = _yearly_series()
    offset = np.zeros_like(log_sales)
    gap_store = log_sales.copy()
    gap_store[1, 60:200] = np.nan         # store 1 has no valid day for most of its first year
    anchors = np.array([200, YEAR_DAYS + 150, YEAR_DAYS + 150])
    stores = np.array([0, 0, 1])
    targets = anchors[:, None] + np.array([1, 20])[None, :]
    out = year_ago_covariates(gap_store, offset, stores, anchors, targets, WINDOW, MIN_VALID)
    assert (out[0] == 0).all()            # no year before the first anchor
    assert (out[1, :, 2] == 1).all()
    assert (out[2] == 0).all()            # store 1's year-ago window is in its gap


def test_nothing_after_the_anchor_is_read() -> None:
    log_sales = _yearly_series()
    offset = np.zeros_like(log_sales)
    anchors = np.array([YEAR_DAYS + 60, YEAR_DAYS + 90])
    stores = np.array([0, 1])
    targets = anchors[:, None] + np.arange(1, 361)[None, :]      # lead times up to 360 days
    before = year_ago_covariates(log_sales, offset, stores, anchors, targets, WINDOW, MIN_VALID)
    changed, changed_offset = log_sales.copy(), offset.copy()
    for s, a in zip(stores, anchors, strict=True):
        changed[s, a + 1:] += 3.0
        changed_offset[s, a + 1:] -= 1.0
    after = year_ago_covariates(changed, changed_offset, stores, anchors, targets, WINDOW,
                                MIN_VALID)
    np.testing.assert_array_equal(before, after)
    assert (before[..., 2] == 1).all()



def test_a_horizon_that_would_read_after_the_origin_is_refused() -> None:
    from .conftest import tiny_config

    assert tiny_config(horizon_days=YEAR_DAYS - 4).horizon_days == YEAR_DAYS - 4
    with pytest.raises(ValueError, match="would read days after the forecast origin"):
        tiny_config(horizon_days=YEAR_DAYS - 3)
    # without the covariates nothing is read a year back: any horizon
    assert tiny_config(horizon_days=400, year_ago_covariates=False).horizon_days == 400


PERIOD, EVENT_START, EVENT_DAYS, HORIZON = 91, 50, 21, 35   # 364 = 4 x 91


def _recurring_event_tables(uplift: dict[int, float]):
    """The planted weekly pattern for 2.5 years, plus a three-week event every 13 weeks (so
    every 364 days too) on which each store sells `uplift` times its usual: a store-specific
    season no calendar covariate names. The history ends a week before an event."""
    from .conftest import planted_tables

    cutoff_day = 9 * PERIOD + EVENT_START - 7
    sales, stores, _ = planted_tables(days=cutoff_day + HORIZON + 1)
    t = (sales["Date"] - sales["Date"].min()).dt.days
    phase = t % PERIOD
    in_event = (phase >= EVENT_START) & (phase < EVENT_START + EVENT_DAYS)
    sales["Sales"] = np.round(sales["Sales"] * np.where(
        in_event, sales["Store"].map(uplift), 1.0)).astype(np.int64)
    cutoff = sales["Date"].min() + pd.Timedelta(days=cutoff_day)
    return sales.assign(in_event=in_event), stores, cutoff


def test_a_store_specific_recurring_event_is_forecast_from_the_year_before() -> None:
    """Each store's own event level (planted: x1.8, x1.0, x1.4, x0.7): with the year-ago
    covariates even a tiny network forecasts it from what the store did 364 days before; without
    them it cannot know the event is coming (the window before it shows none)."""
    from rossmann_kedro.features import FeatureContext
    from rossmann_kedro.models.lstm import train_network
    from rossmann_kedro.models.metrics import rmspe

    from .conftest import project_parameters, tiny_config

    uplift = {1: 1.8, 2: 1.0, 3: 1.4, 4: 0.7}
    sales, stores, cutoff = _recurring_event_tables(uplift)
    future = sales.loc[sales["Date"] > cutoff]
    context = FeatureContext.fit(sales.loc[sales["Date"] <= cutoff], stores,
                                 calendar_rows=future, train_end=cutoff,
                                 params=project_parameters()["feature_engineering"]["context"])
    errors, ratios = {}, {}
    for year_ago in (True, False):
        # the early-stopping weeks hold the last event before the origin
        config = tiny_config(year_ago_covariates=year_ago, ensemble_members=1,
                             early_stopping_weeks=12, horizon_days=HORIZON)
        model = train_network(sales.drop(columns="in_event"), context, config, member_processes=1)
        if year_ago:
            _assert_served_covariates_are_the_training_ones(model, sales, context)
        pred = future.assign(forecast=model.predict(future)["Sales"].to_numpy())
        event = pred.loc[pred["in_event"]]
        errors[year_ago] = rmspe(event["Sales"], event["forecast"])
        ratios[year_ago] = (event.groupby("Store")["forecast"].mean()
                            / pred.loc[~pred["in_event"]].groupby("Store")["forecast"].mean())
    for store, planted in uplift.items():        # within 15 % in log terms (x1.8 and x0.7)
        assert abs(np.log(ratios[True][store] / planted)) < 0.15, store
        assert ratios[False][store] == pytest.approx(1.0, abs=0.1), store
    assert list(ratios[True].sort_values().index) == [4, 2, 3, 1]
    assert errors[True] < 0.12
    assert errors[True] < 0.5 * errors[False]


def _assert_served_covariates_are_the_training_ones(model, sales, context) -> None:
    """What the served model keeps per store and lead time is what training computes for a
    window ending at the history's last day (cell offsets from the training grid's covariates)."""
    from rossmann_kedro import timeseries as ts
    from rossmann_kedro.models.lstm import (
        CELL_OFFSET,
        grid_covariates,
        moving_event_days,
        scaled_year_ago,
    )

    grid = ts.build_grid(sales, end=context.train_end)
    offset = grid_covariates(grid, sales, context)[..., CELL_OFFSET].astype(np.float64)
    n, end = len(grid.store_ids), grid.n_days - 1
    expected = scaled_year_ago(year_ago_covariates(
        grid.log_sales, offset, np.arange(n), np.full(n, end),
        end + np.arange(1, HORIZON + 1)[None, :].repeat(n, 0), int(model.config["window_days"]),
        int(model.config["min_valid_days"]), moving_event_days(grid)), model.target_scale)
    assert expected[..., 2].all()
    np.testing.assert_allclose(model._year_ago, expected, rtol=1e-5, atol=1e-6)


def test_head_inputs_filled_by_chunks_are_the_ones_computed_at_once() -> None:
    """`target_inputs` fills the head inputs a chunk of windows at a time to bound its
    temporaries; the values must be exactly the parts computed at once and concatenated."""
    from rossmann_kedro import timeseries as ts
    from rossmann_kedro.models.lstm import (
        moving_event_days,
        scaled_lead,
        scaled_year_ago,
        target_inputs,
    )

    from .conftest import planted_tables, tiny_config

    sales, _, _ = planted_tables(n_stores=3, days=2 * YEAR_DAYS)
    sales.loc[sales["Date"].isin(pd.to_datetime(["2014-12-25", "2015-04-06"])), "StateHoliday"] = "a"
    grid = ts.build_grid(sales)
    rng = np.random.default_rng(0)
    samples = ts.supervised_samples(grid, WINDOW, 35, WINDOW, grid.n_days - 36, 0,
                                    grid.n_days - 1, 3, 10, MIN_VALID, rng)
    cfg = tiny_config(window_days=WINDOW, min_valid_days=MIN_VALID).model_dump()
    cov = rng.normal(size=(*grid.valid.shape, 5)).astype(np.float32)
    offset = rng.normal(0, 0.1, grid.valid.shape)
    tscale = (np.array([1.7]), np.array([0.2]))
    expected = np.concatenate([
        cov[samples.store_idx[:, None], samples.target],
        scaled_year_ago(year_ago_covariates(
            grid.log_sales, offset, samples.store_idx, samples.anchor, samples.target, WINDOW,
            MIN_VALID, moving_event_days(grid)), tscale).astype(np.float32),
        scaled_lead(samples.target - samples.anchor[:, None], 35)[..., None].astype(np.float32),
    ], axis=-1)
    assert len(samples) > 100 and expected[..., -2].any()   # year-ago known for later windows
    got = target_inputs(grid, cov, samples, cfg, tscale, offset, chunk=37)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    without = target_inputs(grid, cov, samples, {**cfg, "year_ago_covariates": False}, tscale,
                            offset, chunk=37)
    np.testing.assert_array_equal(without, np.delete(expected, [5, 6, 7], axis=-1))
