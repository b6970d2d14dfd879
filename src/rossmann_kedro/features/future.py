"""Request rows for days no file describes yet, from the calendars a `FeatureContext` holds.

The context already knows, for every day of its calendar grid, each holiday region's state and
school holidays and the chain-wide promo weeks (from the train/test files where they cover the
day, else from its deterministic rules). `calendar_rows` reads them back as Kaggle test.csv-format
rows, so a caller can forecast past the end of test.csv with the same calendar the features use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import calendar as cal
from .context import FeatureContext

_HOLIDAY_LETTERS = np.array(["0", "a", "b", "c"], dtype=object)


def calendar_rows(context: FeatureContext, store: int, dates: pd.Series | np.ndarray) -> pd.DataFrame:
    """Store, Date, DayOfWeek, Promo, StateHoliday, SchoolHoliday of `store` on `dates`.

    `Open` is not part of a calendar (it is the store's own habit); the caller adds it.
    Raises ValueError for a store the context does not know or a date outside its calendar.
    """
    days = cal.to_day_numbers(pd.Series(dates))
    pos = int(np.searchsorted(context.store_ids, store))
    if pos >= len(context.store_ids) or context.store_ids[pos] != store:
        raise ValueError(f"store {store} is not in the feature context")
    gi = days - context.grid_start
    outside = (gi < 0) | (days > context.grid_end)
    if outside.any():
        lo, hi = context.date_range
        bad = np.datetime64(int(days[np.flatnonzero(outside)[0]]), "D")
        raise ValueError(f"date {bad} outside the calendar {lo}..{hi}")
    region = int(context.store["region"][pos])
    return pd.DataFrame({
        "Store": np.full(len(days), store, dtype=np.int64),
        "Date": days.astype("datetime64[D]").astype("datetime64[ns]"),
        "DayOfWeek": cal.weekday_of(days),
        "Promo": context.promo_cal["promo"][gi].astype(np.int64),
        "StateHoliday": pd.array(_HOLIDAY_LETTERS[context.region_cal["state"][region, gi]],
                                 dtype="str"),
        "SchoolHoliday": context.region_cal["school"][region, gi].astype(np.int64),
    })
