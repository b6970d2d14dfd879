"""The contract between trained models and everything that uses them (batch scoring, the gRPC
server, the REST gateway): one object, pickled through the catalog, that turns Kaggle
test.csv-format rows into sales with a prediction interval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

# Columns a request row carries, in Kaggle test.csv names. `Id` is optional.
REQUEST_COLUMNS = ("Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday")
PREDICTION_COLUMNS = ("Sales", "lower", "upper")

# Request rows as `ArrayForecaster.predict_arrays` takes them: a DataFrame, or a mapping of
# `REQUEST_COLUMNS` -> equal-length 1-d arrays with the dtypes `Forecaster.predict` documents
# (StateHoliday: an object array of str).
RequestRows = pd.DataFrame | Mapping[str, Any]


class RowError(ValueError):
    """A row `predict` cannot forecast: `row` is its position in the frame given to `predict`,
    `field` the request column at fault (one of `REQUEST_COLUMNS`), `reason` the explanation.

    Servers map it to INVALID_ARGUMENT at `rows[row].<field>` from these attributes, never from
    the text; the message stays readable: "row 3: Date 2016-01-01 outside ...". A ValueError, so
    callers that catch ValueError keep working."""

    def __init__(self, row: int, field: str, reason: str) -> None:
        self.row, self.field, self.reason = int(row), field, reason
        super().__init__(f"row {self.row}: {reason}")

    def renumbered(self, positions: Sequence[int]) -> RowError:
        """The same error for a subset of the rows: `positions[i]` is where subset row i sits in
        the full frame."""
        return RowError(int(positions[self.row]), self.field, self.reason)


@runtime_checkable
class Forecaster(Protocol):
    """What a served model must offer.

    `predict` takes rows with `REQUEST_COLUMNS` (Date as datetime64, Open/Promo/SchoolHoliday as
    0/1 ints, StateHoliday as one of "0", "a", "b", "c") and returns a frame with
    `PREDICTION_COLUMNS` on the same index: closed days give 0 with a 0..0 interval. A row it
    cannot forecast raises `RowError` (a request problem); other ValueErrors concern the frame.
    `metadata` holds at least: name, trained_at (ISO), train_start, train_end, metrics
    ({"rmspe", "rmse", "mae"} on the validation window), interval_level, feature_names.
    """

    name: str
    stores: frozenset[int]
    metadata: dict[str, Any]

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame: ...


@runtime_checkable
class ArrayForecaster(Forecaster, Protocol):
    """A Forecaster that also predicts from column arrays, without building DataFrames.

    `predict_arrays(rows)` must give exactly `predict(frame)`'s values as an (n, 3) float64
    array in `PREDICTION_COLUMNS` order, with the same refusals. Servers prefer it for small
    requests: two DataFrames per call cost more than a tree model's arithmetic.
    """

    def predict_arrays(self, rows: RequestRows) -> np.ndarray: ...
