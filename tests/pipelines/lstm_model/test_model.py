"""The LSTM forecaster: learns a planted weekly pattern, honours the Forecaster contract,
pickles without Keras and predicts the same numbers row by row as in a batch."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.forecaster import PREDICTION_COLUMNS, REQUEST_COLUMNS, Forecaster
from rossmann_kedro.models.lstm import validation_report
from rossmann_kedro.models.metrics import rmspe

pytestmark = pytest.mark.slow


def test_tiny_lstm_beats_a_constant_on_a_planted_weekly_pattern(planted, tiny_forecaster) -> None:
    sales, _, _ = planted
    model, cutoff = tiny_forecaster
    val = sales.loc[sales["Date"] > cutoff]
    train = sales.loc[sales["Date"] <= cutoff]
    report, _ = validation_report(model, val)
    # constant per store: its mean training sales (a stronger baseline than one global constant)
    const = val["Store"].map(train.groupby("Store")["Sales"].mean())
    const_rmspe = rmspe(val["Sales"], const)
    assert const_rmspe > 0.2                       # the planted pattern is big ...
    assert report["rmspe"] < 0.5 * const_rmspe     # ... and the LSTM learned it
    assert report["rmspe"] < 0.12
    assert min(model.training["epochs_trained"]) >= 2


def test_forecaster_contract(planted, tiny_forecaster) -> None:
    _, _, test = planted
    model, cutoff = tiny_forecaster
    assert isinstance(model, Forecaster)
    assert model.stores == frozenset({1, 2, 3, 4})
    for key in ("name", "trained_at", "train_start", "train_end", "metrics", "interval_level",
                "feature_names", "horizon_days", "valid_dates"):
        assert key in model.metadata
    assert model.metadata["train_end"] == str(cutoff.date())
    rows = test[list(REQUEST_COLUMNS)].assign(Date=test["Date"] - pd.Timedelta(days=28))
    assert rows["Date"].min() == cutoff + pd.Timedelta(days=1)       # 1..28 days after history
    rows.iloc[3, rows.columns.get_loc("Open")] = 0
    pred = model.predict(rows)
    assert list(pred.columns) == list(PREDICTION_COLUMNS) and pred.index.equals(rows.index)
    assert (pred.iloc[3] == 0).all()                                  # closed: 0 with 0..0
    other = pred.drop(index=pred.index[3])
    assert (other["Sales"] > 0).all()
    assert (other["lower"] <= other["Sales"]).all() and (other["Sales"] <= other["upper"]).all()
    assert (other["lower"] < other["upper"]).all()


@pytest.mark.parametrize("days_after,match", [(0, "not after the end"), (-30, "not after the end"),
                                              (36, "more than 35 days")])
def test_dates_outside_the_horizon_are_rejected(tiny_forecaster, days_after, match) -> None:
    model, cutoff = tiny_forecaster
    row = pd.DataFrame({"Store": [2], "DayOfWeek": [1], "Date": [cutoff + pd.Timedelta(days=days_after)],
                        "Open": [1], "Promo": [0], "StateHoliday": ["0"], "SchoolHoliday": [0]})
    with pytest.raises(ValueError, match=match):
        model.predict(row)
    ok = row.assign(Date=cutoff + pd.Timedelta(days=35))
    assert model.predict(ok)["Sales"].iloc[0] > 0                     # the last valid day


def test_the_batch_scoring_leaves_out_test_rows_beyond_the_horizon(planted, tiny_forecaster,
                                                                   caplog) -> None:
    """A test.csv that reaches past the LSTM's horizon (35 days here) is scored where the LSTM
    forecasts; the rest is logged, not a failed `lstm_model` run."""
    from rossmann_kedro.pipelines.lstm_model.nodes import predict_test

    model, cutoff = tiny_forecaster
    _, _, test = planted
    test = test.assign(Date=test["Date"] - pd.Timedelta(days=28) + (test["Id"] % 50).map(
        lambda d: pd.Timedelta(days=int(d))))          # spread over 1..77 days after the cutoff
    ahead = (test["Date"] - cutoff).dt.days
    assert (ahead > 35).any() and (ahead <= 35).any()
    submission, predictions = predict_test(model, test)
    assert sorted(submission["Id"]) == sorted(test.loc[ahead.between(1, 35), "Id"])
    assert predictions["Sales"].gt(0).all()
    assert f"{int((ahead > 35).sum())} test rows outside the dates it forecasts" in caplog.text


def test_unknown_store_and_missing_column_are_rejected(tiny_forecaster) -> None:
    model, cutoff = tiny_forecaster
    row = pd.DataFrame({"Store": [99], "Date": [cutoff + pd.Timedelta(days=1)], "Open": [1],
                        "Promo": [0], "StateHoliday": ["0"], "SchoolHoliday": [0]})
    with pytest.raises(ValueError, match="Store 99 is unknown"):
        model.predict(row)
    with pytest.raises(ValueError, match="lack columns"):
        model.predict(row.drop(columns="Promo").assign(Store=1))


def test_a_bad_value_after_a_closed_row_is_reported_at_its_request_row(tiny_forecaster) -> None:
    # only open rows reach build_features; its "row i" must still count all request rows
    model, cutoff = tiny_forecaster
    rows = pd.DataFrame({"Store": [1, 2, 3, 4], "Date": [cutoff + pd.Timedelta(days=1)] * 4,
                         "Open": [0, 0, 1, 1], "Promo": [0, 0, 0, 2],
                         "StateHoliday": ["0"] * 4, "SchoolHoliday": [0] * 4})
    with pytest.raises(ValueError, match=r"^row 3: column 'Promo' = 2 not in \(0, 1\)$"):
        model.predict(rows)
    with pytest.raises(ValueError, match=r"^row 2: StateHoliday 'x'"):
        model.predict(rows.assign(Promo=0, StateHoliday=["0", "0", "x", "0"]))
    with pytest.raises(ValueError, match=r"^row 1: column 'Promo'"):   # all open: as it was
        model.predict(rows.assign(Open=1, Promo=[0, 3, 0, 0]))


def test_pickle_round_trip_and_row_by_row_parity(planted, tiny_forecaster) -> None:
    sales, stores, test = planted
    model, cutoff = tiny_forecaster
    served = pickle.loads(pickle.dumps(model))
    assert served._model is None                                       # no Keras object pickled
    rows = test.assign(Date=test["Date"] - pd.Timedelta(days=28))[list(REQUEST_COLUMNS)]
    batch = model.predict(rows)
    np.testing.assert_array_equal(served.predict(rows).to_numpy(), batch.to_numpy())
    one_by_one = pd.concat([served.predict(rows.iloc[[i]]) for i in range(0, len(rows), 7)])
    np.testing.assert_allclose(one_by_one.to_numpy(), batch.iloc[::7].to_numpy(), rtol=1e-12)
    # the Keras model rebuilt from config + weights encodes the history exactly as the original
    rebuilt = pickle.loads(pickle.dumps(model))
    rebuilt.set_history(sales, model.context)
    np.testing.assert_allclose(rebuilt._ctx, model._ctx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rebuilt.predict(rows).to_numpy(), batch.to_numpy(), rtol=1e-5)


def test_store_specific_promo_effects_come_through_the_cell_baseline() -> None:
    """Stores react differently to promotions (planted: +80 %, +0 %, +30 %, +30 %). The target's
    baseline includes the store x weekday x promo cell offset, so even a network trained for two
    epochs forecasts each store's own promo uplift; a shared head alone learns the average."""
    from rossmann_kedro.features import FeatureContext
    from rossmann_kedro.models.lstm import train_network

    from .conftest import planted_tables, project_parameters, tiny_config

    sales, stores, test = planted_tables()
    uplift = {1: 1.8, 2: 1.0, 3: 1.3, 4: 1.3}
    promo_week = lambda d: ((d - pd.Timestamp("2014-01-06")).dt.days // 7) % 2 == 0  # noqa: E731
    for frame in (sales, test):
        frame["Promo"] = (promo_week(frame["Date"]) & (frame["Date"].dt.day_of_week < 5)).astype(np.int64)
    sales["Sales"] = np.round(sales["Sales"] * np.where(
        sales["Promo"] == 1, sales["Store"].map(uplift), 1.0)).astype(np.int64)
    cutoff = sales["Date"].max()
    context = FeatureContext.fit(sales, stores, calendar_rows=test, train_end=cutoff,
                                 params=project_parameters()["feature_engineering"]["context"])
    model = train_network(sales, context, tiny_config(epochs=2), member_processes=1)
    pred = test.assign(Sales=model.predict(test)["Sales"].to_numpy(),
                       weekday=test["Date"].dt.day_of_week)
    weekdays = pred.loc[pred["weekday"] < 5]
    for store, planted in uplift.items():
        mean = weekdays.loc[weekdays["Store"] == store].groupby("Promo")["Sales"].mean()
        assert mean[1] / mean[0] == pytest.approx(planted, rel=0.08), store


def _single_member(model, k: int):
    """A copy of `model` that keeps only its k-th network (same scalers, context, interval)."""
    import copy

    one = copy.copy(model)
    one.members, one._ctx = [model.members[k]], model._ctx[[k]]
    return one


def test_the_forecast_is_the_mean_of_distinct_member_networks(planted, tiny_forecaster) -> None:
    _, _, test = planted
    model, _ = tiny_forecaster
    assert len(model.members) == model.config["ensemble_members"] == 2
    a, b = model.members
    assert not all(np.allclose(x, y) for x, y in zip(a.weights, b.weights, strict=True))
    rows = test.assign(Date=test["Date"] - pd.Timedelta(days=28))
    stores, pos, lead = model._lead_and_positions(rows)
    each = [_single_member(model, k).predict_log(rows, pos, lead) for k in range(2)]
    assert np.abs(each[0] - each[1]).max() > 1e-4                    # they disagree somewhere
    np.testing.assert_allclose(model.predict_log(rows, pos, lead), np.mean(each, axis=0),
                               rtol=1e-12)
    assert len(model.training["best_epoch"]) == 2


def test_member_one_is_the_single_network_of_the_same_seed(planted, tiny_forecaster) -> None:
    """Member k trains with seed + k; the first member is exactly what a one-network
    configuration trains, so `ensemble_members: 1` reproduces the single model."""
    from rossmann_kedro.models.lstm import train_network

    from .conftest import tiny_config

    sales, _, test = planted
    model, _ = tiny_forecaster
    single = train_network(sales, model.context, tiny_config(ensemble_members=1),
                           member_processes=1)
    assert len(single.members) == 1
    for x, y in zip(single.members[0].weights, model.members[0].weights, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    rows = test.assign(Date=test["Date"] - pd.Timedelta(days=28))
    first = _single_member(model, 0)
    np.testing.assert_allclose(single.predict(rows)["Sales"], first.predict(rows)["Sales"],
                               rtol=1e-6)


def test_members_trained_in_processes_are_the_ones_trained_in_process(planted,
                                                                     tiny_forecaster) -> None:
    """`member_processes` changes when the networks are trained, not what they are: the
    fixture's members, trained in two spawned processes, equal the in-process loop's to the
    bit, and so do the forecasts and the bands calibrated on them."""
    from rossmann_kedro.models.lstm import train_network

    from .conftest import tiny_config

    sales, _, test = planted
    model, _ = tiny_forecaster
    in_process = train_network(sales, model.context, tiny_config(), member_processes=1)
    assert len(in_process.members) == len(model.members) == 2
    for mine, theirs in zip(in_process.members, model.members, strict=True):
        for x, y in zip(mine.weights, theirs.weights, strict=True):
            np.testing.assert_array_equal(x, y)
    assert in_process.training["best_epoch"] == model.training["best_epoch"]
    rows = test.assign(Date=test["Date"] - pd.Timedelta(days=28))
    pd.testing.assert_frame_equal(in_process.predict(rows), model.predict(rows))


def test_a_model_pickled_before_ensembles_still_loads_and_predicts(planted, tiny_forecaster) -> None:
    from rossmann_kedro.models.lstm import LSTMForecaster

    _, _, test = planted
    model, _ = tiny_forecaster
    state = _single_member(model, 0).__getstate__()
    member = state.pop("members")[0]
    state.update(weights=member.weights, _head=member.head, _ctx=state["_ctx"][0])
    old = object.__new__(LSTMForecaster)
    old.__setstate__(state)
    rows = test.assign(Date=test["Date"] - pd.Timedelta(days=28))[list(REQUEST_COLUMNS)]
    np.testing.assert_array_equal(old.predict(rows).to_numpy(),
                                  _single_member(model, 0).predict(rows).to_numpy())


def test_the_backtest_event_weights_shift_the_forecast_on_event_days(planted, tiny_forecaster) -> None:
    """lstm_model puts in the event weights the backtest learnt for the LSTM: the forecast on a
    state holiday moves by weight x the store's learnt holiday gap, other days do not move."""
    import copy

    _, _, test = planted
    model, _ = tiny_forecaster
    adjusted = copy.copy(model)
    adjusted.context = copy.deepcopy(model.context)
    adjusted.context.store["holiday_effect"][:] = -0.4
    adjusted.event_weights = {"store_holiday_effect": 0.75}
    rows = test[list(REQUEST_COLUMNS)].assign(Date=test["Date"] - pd.Timedelta(days=28))
    rows["StateHoliday"] = np.where(rows["Date"].dt.day_of_week == 2, "a", "0")
    shift = np.log1p(adjusted.predict(rows)["Sales"]) - np.log1p(model.predict(rows)["Sales"])
    holiday = (rows["StateHoliday"] == "a").to_numpy()
    np.testing.assert_allclose(shift[holiday], 0.75 * -0.4, atol=1e-5)
    np.testing.assert_allclose(shift[~holiday], 0.0, atol=1e-9)
    assert holiday.any() and (~holiday).any()


def test_the_backtest_bias_factor_scales_every_forecast(planted, tiny_forecaster) -> None:
    """lstm_model puts in the bias correction the backtest learnt for the LSTM: every forecast
    is multiplied by it, and a model pickled before the LSTM had one is not corrected."""
    import copy

    _, _, test = planted
    model, _ = tiny_forecaster
    rows = test[list(REQUEST_COLUMNS)].assign(Date=test["Date"] - pd.Timedelta(days=28))
    corrected = copy.copy(model)
    corrected.log_shift = float(np.log(0.97))
    shift = np.log1p(corrected.predict(rows)["Sales"]) - np.log1p(model.predict(rows)["Sales"])
    open_rows = (rows["Open"] == 1).to_numpy()
    np.testing.assert_allclose(shift[open_rows], np.log(0.97), atol=1e-5)
    assert open_rows.any()
    state = corrected.__getstate__()
    state.pop("log_shift")
    old = object.__new__(type(model))
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.log_shift == 0.0
    np.testing.assert_array_equal(old.predict(rows).to_numpy(), model.predict(rows).to_numpy())
