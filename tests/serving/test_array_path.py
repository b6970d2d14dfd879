"""The serving path without DataFrames: `ArrayForecaster.predict_arrays` on the request's column
arrays must give exactly what `predict` gives on the frame, refuse the same rows, and the
server's `forecast_values` must check what either path returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grpc_server.convert import forecast_values, frame_from_columns
from rossmann_kedro.forecaster import ArrayForecaster, Forecaster, RowError
from tests.serving.fake_forecaster import FakeForecaster


def _columns(rows: pd.DataFrame) -> dict:
    """Request rows as the converted-request columns `rows_to_frame` builds."""
    return {
        "Store": rows["Store"].to_numpy(np.int64),
        "DayOfWeek": rows["DayOfWeek"].to_numpy(np.int64),
        "Date": pd.to_datetime(rows["Date"]).to_numpy().astype("datetime64[ns]"),
        "Open": rows["Open"].fillna(1).to_numpy(np.int64),
        "Promo": rows["Promo"].to_numpy(np.int64),
        "StateHoliday": [str(h) for h in rows["StateHoliday"]],
        "SchoolHoliday": rows["SchoolHoliday"].to_numpy(np.int64),
    }


@pytest.fixture(scope="module")
def tree(served_model):
    if served_model.batch_predictions is None:
        pytest.skip("no trained tree model")
    model = served_model.catalog().load(served_model.dataset)
    assert isinstance(model, ArrayForecaster)
    return model


def test_arrays_give_exactly_the_frame_predictions(tree, served_model) -> None:
    rows = served_model.rows
    cols = _columns(rows)
    assert (cols["Open"] == 0).any() and (cols["Open"] == 1).any()  # both kinds of day
    by_frame = tree.predict(frame_from_columns([cols])).to_numpy()
    by_arrays = forecast_values(tree, [cols], len(rows), "tree")
    np.testing.assert_array_equal(by_arrays, by_frame)
    # coalesced requests: the concatenation of parts equals the whole, row for row
    half = len(rows) // 2
    parts = [_columns(rows.iloc[:half]), _columns(rows.iloc[half:])]
    np.testing.assert_array_equal(forecast_values(tree, parts, len(rows), "tree"), by_frame)
    # and the batch pipeline's numbers (the frame path) are what serving answers
    batch = served_model.batch_predictions.set_index("Id").loc[rows["Id"]]
    np.testing.assert_allclose(by_arrays, batch[["Sales", "lower", "upper"]].to_numpy(),
                               rtol=1e-6)


def test_arrays_refuse_the_same_row_and_field_as_the_frame(tree, served_model) -> None:
    rows = served_model.rows.head(5).reset_index(drop=True)
    cols = _columns(rows)
    cols["Store"] = cols["Store"].copy()
    cols["Store"][3] = 99_999
    with pytest.raises(RowError) as by_arrays:
        tree.predict_arrays(cols)
    with pytest.raises(RowError) as by_frame:
        tree.predict(frame_from_columns([cols]))
    assert (by_arrays.value.row, by_arrays.value.field) == (3, "Store")
    assert (by_frame.value.row, by_frame.value.field) == (3, "Store")
    uneven = dict(_columns(rows), Promo=np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="different lengths"):
        tree.predict_arrays(uneven)


class _WrongShapeForecaster(FakeForecaster):
    def predict_arrays(self, rows) -> np.ndarray:
        return np.zeros((len(rows["Store"]), 2))


def test_forecast_values_uses_the_frame_for_plain_forecasters_and_checks_arrays() -> None:
    rows = pd.DataFrame({"Store": [1, 2], "DayOfWeek": [3, 4], "Date": ["2015-08-05", "2015-08-06"],
                         "Open": [1, 0], "Promo": [1, 0], "StateHoliday": ["0", "0"],
                         "SchoolHoliday": [0, 1]})
    cols = _columns(rows)
    plain = FakeForecaster()
    assert isinstance(plain, Forecaster) and not isinstance(plain, ArrayForecaster)
    np.testing.assert_allclose(forecast_values(plain, [cols], 2, "fake"),
                               [[206.0, 185.4, 226.6], [0.0, 0.0, 0.0]])
    with pytest.raises(RuntimeError, match=r"shape \(2, 2\); expected \(2, 3\)"):
        forecast_values(_WrongShapeForecaster(), [cols], 2, "wrong")
