"""What the server knows about stores besides the models: their store.csv attributes, their daily
sales history and the known future rows (test.csv), read through the catalog from the
data_processing outputs (`explorer_*` datasets in conf/base/catalog_serving.yml), loaded on first
use and held as per-store slices of a few numpy arrays (real data: ~1M days, ~40 MB, ~0.3 s)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grpc_server.errors import FailedPrecondition, NotFound

logger = logging.getLogger(__name__)

HISTORY_DATASET = "explorer_store_history"
FUTURE_DATASET = "explorer_future_rows"
STORES_DATASET = "explorer_stores"
OPEN_HABIT_WEEKS = 52  # the store's recent weekday/holiday opening habit decides future Open


@dataclass(frozen=True)
class StoreTables:
    """Per-store slices of date-sorted arrays."""

    stores: pd.DataFrame  # stores_clean, indexed by Store
    history: dict[str, np.ndarray]  # Store-sorted, then Date-sorted columns
    history_slices: dict[int, tuple[int, int]]
    future: pd.DataFrame  # test rows, indexed by (Store, Date)
    history_end: np.datetime64  # last day of the history (all stores)
    open_habit: dict[int, np.ndarray]  # store -> (8,) open share: weekdays 1..7, index 0 = holiday

    def store_ids(self) -> list[int]:
        return [int(s) for s in self.stores.index]

    def history_of(self, store: int) -> dict[str, np.ndarray]:
        lo, hi = self.history_slices.get(store, (0, 0))
        return {k: v[lo:hi] for k, v in self.history.items()}


class StoreData:
    """Lazily loaded `StoreTables` from the catalog; thread-safe, loaded once per process."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self._tables: StoreTables | None = None
        self._lock = threading.Lock()

    def tables(self) -> StoreTables:
        tables = self._tables
        if tables is not None:
            return tables
        with self._lock:
            if self._tables is None:
                self._tables = self._load()
            return self._tables

    def store(self, store: int) -> pd.Series:
        tables = self.tables()
        if store not in tables.stores.index:
            ids = tables.stores.index
            raise NotFound(f"store: unknown store {store} (the data has {len(ids)} stores, ids "
                           f"{int(ids.min())}..{int(ids.max())})")
        return tables.stores.loc[store]

    def _load(self) -> StoreTables:
        t0 = time.perf_counter()
        missing = [d for d in (HISTORY_DATASET, STORES_DATASET) if d not in self._catalog]
        if missing:
            raise FailedPrecondition(f"store data: the catalog has no {missing} datasets")
        try:
            history = self._catalog.load(HISTORY_DATASET)
            stores = self._catalog.load(STORES_DATASET)
        except Exception as exc:  # not processed yet, unreadable file
            logger.warning("Store history not available: %s", exc)
            raise FailedPrecondition(
                "store data: no processed store history in the catalog; run "
                "`kedro run --pipeline data_processing` first") from exc
        future = pd.DataFrame(columns=["Store", "Date", "Open", "Promo", "StateHoliday",
                                       "SchoolHoliday"])
        if FUTURE_DATASET in self._catalog:
            try:
                future = self._catalog.load(FUTURE_DATASET)
            except Exception as exc:  # test.csv is optional for the explorer
                logger.info("No known future rows (%s); calendar rules only", exc)
        tables = build_tables(history, stores, future)
        logger.info("Store data loaded: %d stores, %d history days up to %s, %d future rows, "
                    "in %.2f s", len(tables.stores), len(tables.history["Date"]),
                    tables.history_end, len(tables.future), time.perf_counter() - t0)
        return tables


def build_tables(history: pd.DataFrame, stores: pd.DataFrame, future: pd.DataFrame) -> StoreTables:
    """Sort and slice the processed tables once."""
    h = history.sort_values(["Store", "Date"], kind="stable")
    store_col = h["Store"].to_numpy(np.int64)
    dates = pd.to_datetime(h["Date"]).to_numpy().astype("datetime64[D]")
    cols = {
        "Date": dates,
        "Sales": h["Sales"].to_numpy(np.float64),
        "Open": h["Open"].to_numpy(np.int64),
        "Promo": h["Promo"].to_numpy(np.int64),
        "StateHoliday": h["StateHoliday"].astype(str).to_numpy(dtype=object),
        "SchoolHoliday": h["SchoolHoliday"].to_numpy(np.int64),
    }
    uniq, first = np.unique(store_col, return_index=True)
    bounds = np.append(first, len(store_col))
    slices = {int(s): (int(bounds[i]), int(bounds[i + 1])) for i, s in enumerate(uniq)}
    end = dates.max() if len(dates) else np.datetime64("1970-01-01")
    habit = _open_habits(cols, slices, end)
    f = future.copy()
    if len(f):
        f["Date"] = pd.to_datetime(f["Date"]).dt.normalize()
        f = f.drop_duplicates(["Store", "Date"]).set_index(["Store", "Date"]).sort_index()
    st = stores.copy()
    st["Store"] = st["Store"].astype(np.int64)
    return StoreTables(st.set_index("Store").sort_index(), cols, slices, f, end, habit)


def _open_habits(cols: dict[str, np.ndarray], slices: dict[int, tuple[int, int]],
                 end: np.datetime64) -> dict[int, np.ndarray]:
    """Per store: share of open days by weekday, and on state holidays, over the last year."""
    since = end - np.timedelta64(7 * OPEN_HABIT_WEEKS, "D")
    out = {}
    for store, (lo, hi) in slices.items():
        d = cols["Date"][lo:hi]
        keep = d > since
        d = d[keep]
        open_ = cols["Open"][lo:hi][keep]
        holiday = cols["StateHoliday"][lo:hi][keep] != "0"
        weekday = (d.astype(np.int64) + 3) % 7 + 1
        share = np.full(8, np.nan)
        for wd in range(1, 8):
            m = (weekday == wd) & ~holiday
            if m.any():
                share[wd] = open_[m].mean()
        share[0] = open_[holiday].mean() if holiday.any() else 0.0
        out[store] = np.nan_to_num(share, nan=1.0)
        out[store][0] = share[0] if holiday.any() else 0.0
    return out


def habitual_open(habit: np.ndarray, weekdays: np.ndarray, state_holiday: np.ndarray) -> np.ndarray:
    """Open (1) where the store opened on at least half of such days in the last year."""
    share = np.where(state_holiday != "0", habit[0], habit[weekdays])
    return (share >= 0.5).astype(np.int64)
