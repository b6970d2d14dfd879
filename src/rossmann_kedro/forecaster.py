"""The contract between trained models and everything that uses them (batch scoring, the gRPC
server, the REST gateway): one object, pickled through the catalog, that turns Kaggle
test.csv-format rows into sales with a prediction interval."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pandas as pd

# Columns a request row carries, in Kaggle test.csv names. `Id` is optional.
REQUEST_COLUMNS = ("Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday")
PREDICTION_COLUMNS = ("Sales", "lower", "upper")


@runtime_checkable
class Forecaster(Protocol):
    """What a served model must offer.

    `predict` takes rows with `REQUEST_COLUMNS` (Date as datetime64, Open/Promo/SchoolHoliday as
    0/1 ints, StateHoliday as one of "0", "a", "b", "c") and returns a frame with
    `PREDICTION_COLUMNS` on the same index: closed days give 0 with a 0..0 interval.
    `metadata` holds at least: name, trained_at (ISO), train_start, train_end, metrics
    ({"rmspe", "rmse", "mae"} on the validation window), interval_level, feature_names.
    """

    name: str
    stores: frozenset[int]
    metadata: dict[str, Any]

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame: ...
