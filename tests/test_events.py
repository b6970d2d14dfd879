"""The served tree adds the store event gaps at the backtest's weights, from the same features it
predicts with; a forecaster pickled before event adjustments loads and shifts nothing."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.features import FeatureContext, build_features
from rossmann_kedro.models.candidates import candidate_specs
from rossmann_kedro.models.events import checked_event_weights, event_shift
from rossmann_kedro.models.intervals import HorizonConformalInterval
from rossmann_kedro.models.tree import TreeForecaster
from tests.pipelines.lstm_model.conftest import project_parameters
from tests.test_features import CONTEXT, clean_tables

CARNIVAL_GAP, HOLIDAY_GAP = -0.8, -0.4


@pytest.fixture(scope="module")
def forecaster() -> TreeForecaster:
    """A small XGBoost on the synthetic chain, with every store's learnt Carnival and holiday
    gaps set to known values."""
    tables = clean_tables()
    sales = tables["sales"]
    context = FeatureContext.fit(sales, tables["stores"], calendar_rows=tables["test"],
                                 train_end=sales["Date"].max(), params=CONTEXT)
    context = copy.deepcopy(context)
    context.store["carnival_effect"][:] = CARNIVAL_GAP
    context.store["holiday_effect"][:] = HOLIDAY_GAP
    params = copy.deepcopy(project_parameters()["tree_model"])
    params["candidates"]["xgboost"]["params"]["n_estimators"] = 5
    spec = candidate_specs(params)["xgboost"]
    rows = sales.loc[sales["Open"] == 1].tail(3000)
    member = spec.fit(build_features(rows, context), rows["Sales"], "test", 50)
    resid = np.random.default_rng(0).normal(0, 0.1, 3000)
    interval = HorizonConformalInterval(level=0.8, band_days=7, shrinkage=10).fit(
        rows["Store"].to_numpy(), np.tile(np.arange(1, 43), 100)[:3000], resid)
    return TreeForecaster(context=context, members=[member], weights=[1.0], interval=interval)


def _rows(forecaster: TreeForecaster) -> pd.DataFrame:
    """Every store on Rosenmontag 2015 (a Carnival day), on a state holiday and on an ordinary
    Wednesday."""
    stores = sorted(forecaster.stores)
    days = [("2015-02-16", "0"), ("2015-05-14", "a"), ("2015-03-11", "0")]
    return pd.DataFrame([
        {"Store": s, "DayOfWeek": pd.Timestamp(d).day_of_week + 1, "Date": pd.Timestamp(d),
         "Open": 1, "Promo": 0, "StateHoliday": h, "SchoolHoliday": 0}
        for d, h in days for s in stores])


def test_the_served_forecast_adds_each_gap_at_its_weight(forecaster: TreeForecaster) -> None:
    rows = _rows(forecaster)
    plain, _ = forecaster.predict_log(rows)
    adjusted = copy.copy(forecaster)
    adjusted.event_weights = {"store_carnival_effect": 0.5, "store_holiday_effect": 0.75}
    shifted, _ = adjusted.predict_log(rows)
    expected = np.select([rows["Date"] == "2015-02-16", rows["StateHoliday"] == "a"],
                         [0.5 * CARNIVAL_GAP, 0.75 * HOLIDAY_GAP], 0.0)
    np.testing.assert_allclose(shifted - plain, expected, atol=1e-6)
    served = np.log1p(adjusted.predict(rows)["Sales"]) - np.log1p(forecaster.predict(rows)["Sales"])
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_a_forecaster_pickled_before_event_adjustments_shifts_nothing(forecaster) -> None:
    state = forecaster.__getstate__()
    state.pop("event_weights")
    old = object.__new__(TreeForecaster)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    rows = _rows(forecaster)
    assert old.event_weights == {}
    np.testing.assert_array_equal(old.predict(rows).to_numpy(), forecaster.predict(rows).to_numpy())


def test_unknown_effect_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event effects.*store_mood"):
        checked_event_weights({"store_mood": 0.5})
    assert checked_event_weights(None) == {}
    assert event_shift({}, np.ones((3, 5))).tolist() == [0.0, 0.0, 0.0]
