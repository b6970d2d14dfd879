"""`build_features(rows, context)`: request rows (test.csv columns) -> the model matrix.

Each output row depends only on its own input row and the frozen context (array lookups and
element-wise arithmetic, no groupby/rolling/shift across rows), so

* a row's features are the same whether it is scored alone or in a batch (train/serve parity);
* nothing about other rows -- in particular no Sales or Customers of the day being predicted or
  later days -- can leak into a row's features.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

from rossmann_kedro.forecaster import RequestRows, RowError

from . import calendar as cal
from .context import RECENT_WINDOWS_DAYS, FeatureContext

REQUIRED_COLUMNS = ("Store", "Date", "Promo", "StateHoliday", "SchoolHoliday")

FEATURE_NAMES: tuple[str, ...] = (
    # calendar parts (from the date)
    "DayOfWeek", "is_weekend", "Day", "Month", "Year", "WeekOfYear", "DayOfYear",
    "month_part", "days_to_month_end",
    # the request row's own flags
    "Promo", "promo_day", "StateHoliday", "SchoolHoliday",
    # store attributes
    "Store", "StoreType", "Assortment", "region", "CompetitionDistance",
    "CompetitionDistanceMissing", "competition_open_months", "competition_open",
    "Promo2", "promo2_weeks", "promo2_active", "promo2_month",
    # distances on calendars known in advance
    "days_until_state_holiday", "days_since_state_holiday",
    "days_until_school_holiday", "days_since_school_holiday",
    "days_until_christmas", "days_since_christmas", "days_until_easter", "days_since_easter",
    "days_until_promo", "days_since_promo", "promo_prev_week", "promo_next_week",
    # store-level statistics from the training window
    "store_mean_log_sales", "store_std_log_sales", "store_mean_sales", "store_mean_customers",
    "store_sales_per_customer", "store_recent_log_delta",
    "cell_mean_log_sales", "cell_mean_sales", "cell_mean_customers", "cell_sales_per_customer",
)
# The feature set of the models served before the backtest round: statistics of one training
# window, no forecast origin. Kept so the backtest can score "today's configuration" against
# the origin-aware features below.
LEGACY_FEATURE_NAMES: tuple[str, ...] = FEATURE_NAMES

# Origin-aware features: what a server knows at the forecast origin (the context's train_end)
# about the store's recent level, closures and last year's shape, and how far ahead the day is.
ORIGIN_FEATURE_NAMES: tuple[str, ...] = (
    "horizon_days",
    *(f"recent_log_sales_{d}d" for d in RECENT_WINDOWS_DAYS),
    "recent_trend", "cell_recent_log_sales_91d", "cell_recent_log_sales_364d",
    "days_closed_at_origin", "days_since_reopen", "last_year_delta", "last_year_known",
    "store_carnival_effect", "store_holiday_effect",
)
# The calendar grid's holiday distances as they are, whatever the row says (beyond the files:
# last year's school holidays, the state holidays learnt so far). A model trained on the origin
# frame reads these in place of the row-agreeing ones: its training rows beyond each origin had
# exactly such distances, so it is served what it learnt from (`models.candidates`). Models
# trained on the files' rows, whose flags and grid agree, read the row-agreeing ones.
GRID_DISTANCE_FEATURES: dict[str, str] = {
    f"days_{way}_{kind}_holiday": f"grid_days_{way}_{kind}_holiday"
    for kind in ("state", "school") for way in ("until", "since")
}
FEATURE_NAMES = LEGACY_FEATURE_NAMES + ORIGIN_FEATURE_NAMES + tuple(GRID_DISTANCE_FEATURES.values())

# Continuous features (scaled by the StandardScaler); the rest are codes, flags and counters.
CONTINUOUS_FEATURES: tuple[str, ...] = (
    "CompetitionDistance", "competition_open_months", "promo2_weeks",
    "store_mean_log_sales", "store_std_log_sales", "store_mean_sales", "store_mean_customers",
    "store_sales_per_customer", "store_recent_log_delta",
    "cell_mean_log_sales", "cell_mean_sales", "cell_mean_customers", "cell_sales_per_customer",
    *(f"recent_log_sales_{d}d" for d in RECENT_WINDOWS_DAYS),
    "recent_trend", "cell_recent_log_sales_91d", "cell_recent_log_sales_364d", "last_year_delta",
    "store_carnival_effect", "store_holiday_effect",
)


def _values(rows: RequestRows, col: str) -> np.ndarray:
    values = rows[col]
    return values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)


def _int_column(rows: RequestRows, col: str, binary: bool = True) -> np.ndarray:
    """Column as int64; numeric dtypes skip pandas parsing (the single-row serving path)."""
    values = _values(rows, col)
    if values.dtype.kind not in "iub":
        try:
            values = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"column {col!r}: not numeric ({exc})") from exc
        bad = np.isnan(values) | (values != np.round(values))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise RowError(pos, col, f"column {col!r} = {values[pos]} is not an integer")
    values = values.astype(np.int64, copy=False)
    if binary:
        bad = (values != 0) & (values != 1)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise RowError(pos, col, f"column {col!r} = {values[pos]} not in (0, 1)")
    return values


def _day_numbers(rows: RequestRows) -> np.ndarray:
    values = _values(rows, "Date")
    if values.dtype.kind != "M":
        try:
            values = pd.to_datetime(pd.Series(values)).to_numpy()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"column 'Date': cannot parse ({exc})") from exc
    if np.isnat(values).any():
        raise RowError(int(np.flatnonzero(np.isnat(values))[0]), "Date", "Date is missing")
    return values.astype("datetime64[D]").astype(np.int64)


# Features that depend on the date only: computed once per context for every day of its calendar
# grid (by the same functions, element-wise, so the numbers are the same as per row) and looked up.
DAY_FEATURES: tuple[str, ...] = (
    "DayOfWeek", "is_weekend", "Day", "Month", "Year", "WeekOfYear", "DayOfYear", "month_part",
    "days_to_month_end", "days_until_christmas", "days_since_christmas", "days_until_easter",
    "days_since_easter", "days_until_promo", "days_since_promo", "promo_prev_week",
    "promo_next_week",
)
# Features that are a store attribute looked up as is.
STORE_FEATURES: tuple[str, ...] = (
    "StoreType", "Assortment", "region", "CompetitionDistance", "CompetitionDistanceMissing",
    "Promo2", "store_mean_log_sales", "store_std_log_sales", "store_mean_sales",
    "store_mean_customers", "store_sales_per_customer", "store_recent_log_delta",
    *(f"recent_log_sales_{d}d" for d in RECENT_WINDOWS_DAYS),
    "recent_trend", "days_closed_at_origin",
)
_COLUMNS = pd.Index(FEATURE_NAMES)  # shared: immutable, and ~30 us per call to build
_INDEX = {name: j for j, name in enumerate(FEATURE_NAMES)}
_DAY_ROWS = np.array([_INDEX[n] for n in DAY_FEATURES])
_STORE_ROWS = np.array([_INDEX[n] for n in STORE_FEATURES])


class _Tables:
    """Per-context lookup tables derived from a `FeatureContext` (never pickled with it)."""

    def __init__(self, context: FeatureContext) -> None:
        days = np.arange(context.grid_start, context.grid_end + 1, dtype=np.int64)
        year, month, dom = cal.year_of(days), cal.month_of(days), cal.day_of_month(days)
        dow = cal.weekday_of(days)
        # first day of the following month (months since the epoch -> day number)
        nm_index = (year - 1970) * 12 + month
        next_month = nm_index.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        cap_y = int(context.params["yearly_cap_days"])
        xmas_until, xmas_since = cal.distance_to_yearly(
            days, lambda y: cal.fixed_day(y, 12, 25), cap_y)
        easter_until, easter_since = cal.distance_to_yearly(days, cal.easter_day, cap_y)
        pc = context.promo_cal
        cols = {
            "DayOfWeek": dow,
            "is_weekend": (dow >= 6).astype(np.int64),
            "Day": dom,
            "Month": month,
            "Year": year,
            "WeekOfYear": cal.iso_week_of(days),
            "DayOfYear": days - cal.fixed_day(year, 1, 1) + 1,
            "month_part": np.where(dom <= 10, 0, np.where(dom <= 20, 1, 2)),
            "days_to_month_end": next_month - days - 1,
            "days_until_christmas": xmas_until,
            "days_since_christmas": xmas_since,
            "days_until_easter": easter_until,
            "days_since_easter": easter_since,
            "days_until_promo": pc["until"],
            "days_since_promo": pc["since"],
            "promo_prev_week": pc["prev_week"],
            "promo_next_week": pc["next_week"],
        }
        # float32 as in the model matrix: a lookup copies the very values a per-row cast gives
        self.day = np.empty((len(DAY_FEATURES), len(days)), dtype=np.float32)
        for j, name in enumerate(DAY_FEATURES):
            self.day[j] = cols[name]
        self.dow = dow
        # column of context.store["carnival_effect"] for each day; -1 = not a Carnival day
        w = cal.CARNIVAL_WINDOW_DAYS
        slot_of_offset = np.full(2 * w + 1, -1)   # offsets -w..w -> effect column
        slot_of_offset[np.array(cal.CARNIVAL_EFFECT_OFFSETS) + w] = np.arange(
            len(cal.CARNIVAL_EFFECT_OFFSETS))
        self.carnival_slot = slot_of_offset[cal.carnival_offset(days) + w]
        self.month = month
        self.month_index = year * 12 + month - 1
        s = context.store
        self.store = np.empty((len(STORE_FEATURES), len(context.store_ids)), dtype=np.float32)
        for j, name in enumerate(STORE_FEATURES):
            self.store[j] = s[name]


_TABLES: dict[int, tuple[weakref.ref, _Tables]] = {}


def _carnival_effect(context: FeatureContext, pos: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """The store's learnt sales gap on the row's Carnival day, 0 on other days. A context
    pickled before Carnival effects existed knows none: 0 everywhere."""
    effect = context.store.get("carnival_effect")
    if effect is None:
        return np.zeros(len(pos))
    return np.where(slot >= 0, effect[pos, np.maximum(slot, 0)], 0.0)


def _holiday_effect(context: FeatureContext, pos: np.ndarray, state: np.ndarray) -> np.ndarray:
    """The store's learnt sales gap on state holidays it opens, on the row's state holiday; 0 on
    other days (and everywhere for a context pickled before holiday effects existed)."""
    effect = context.store.get("holiday_effect")
    if effect is None:
        return np.zeros(len(pos))
    return np.where(state > 0, effect[pos], 0.0)


def _distance_agreeing_with_row(grid_days: np.ndarray, row_flag: np.ndarray) -> np.ndarray:
    """Days to/from a holiday on the context's grid, made to agree with the row's own flag.

    Beyond the dates the train/test files cover, the grid's school holidays are last year's
    (state holidays are rules), while a request row carries the day's true flag: a row whose
    flag says holiday is 0 days from one; a row whose flag says no holiday is at least 1 day
    from one. Rows that agree with the grid keep its values: on the real data every row of the
    train and test files does, so models trained on them see the features they saw before.
    """
    return np.where(row_flag, 0, np.maximum(grid_days, 1))


def _holiday_distances(rc: dict[str, np.ndarray], region: np.ndarray, gi: np.ndarray,
                       state: np.ndarray, school: np.ndarray) -> dict[str, np.ndarray]:
    """Days until/since state and school holidays: the row-agreeing ones and the grid's own
    (`GRID_DISTANCE_FEATURES`), each grid table looked up once for both."""
    out = {}
    for kind, flag in (("state", state > 0), ("school", school > 0)):
        for way in ("until", "since"):
            grid = rc[f"{kind}_{way}"][region, gi]
            name = f"days_{way}_{kind}_holiday"
            out[name] = _distance_agreeing_with_row(grid, flag)
            out[GRID_DISTANCE_FEATURES[name]] = grid
    return out


def _tables(context: FeatureContext) -> _Tables:
    """The context's lookup tables, built on first use and dropped with the context."""
    key = id(context)
    entry = _TABLES.get(key)
    if entry is not None and entry[0]() is context:
        return entry[1]
    tables = _Tables(context)
    _TABLES[key] = (weakref.ref(context, lambda _ref: _TABLES.pop(key, None)), tables)
    return tables


def build_features(rows: pd.DataFrame, context: FeatureContext) -> pd.DataFrame:
    """Model matrix (float32, columns `FEATURE_NAMES`, index of `rows`) for Rossmann-format rows.

    `rows` needs Store, Date, Promo, StateHoliday ("0"/"a"/"b"/"c"), SchoolHoliday; DayOfWeek and
    Open are ignored here (the weekday comes from the date; closed days are the model's concern).
    Raises ValueError naming the row and column for unknown stores, dates outside the context's
    calendar, or malformed values.
    """
    matrix = feature_matrix(rows, context)
    # pandas takes the (features x rows) block without a copy
    return pd.DataFrame(matrix.T, index=rows.index, columns=_COLUMNS, copy=False)


def feature_matrix(rows: RequestRows, context: FeatureContext) -> np.ndarray:
    """`build_features` as a bare (len(FEATURE_NAMES), len(rows)) float32 array, features x rows:
    the same numbers without the DataFrame, for the request-sized serving path. `rows` may be a
    mapping of column arrays (`RequestRows`)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in rows]
    if missing:
        raise ValueError(f"rows lack columns {missing}")
    stores = _int_column(rows, "Store", binary=False)
    n = len(stores)
    if not isinstance(rows, pd.DataFrame):
        lengths = {c: len(rows[c]) for c in REQUIRED_COLUMNS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"columns of different lengths: {lengths}")
    pos = np.searchsorted(context.store_ids, stores)
    pos_c = np.clip(pos, 0, len(context.store_ids) - 1)
    unknown = context.store_ids[pos_c] != stores
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise RowError(i, "Store", f"Store {stores[i]} is unknown to the model")
    days = _day_numbers(rows)
    gi = days - context.grid_start
    outside = (gi < 0) | (days > context.grid_end)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        lo, hi = context.date_range
        raise RowError(i, "Date", f"Date {np.datetime64(int(days[i]), 'D')} outside {lo}..{hi}")
    promo = _int_column(rows, "Promo")
    school = _int_column(rows, "SchoolHoliday")
    sh = _values(rows, "StateHoliday").astype(object, copy=False)
    state = np.zeros(n, dtype=np.int64)
    known = np.zeros(n, dtype=bool)
    for key, code in cal.HOLIDAY_CODES.items():
        hit = sh == key
        state[hit] = code
        known |= hit
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise RowError(i, "StateHoliday",
                       f"StateHoliday {sh[i]!r} not in {tuple(cal.HOLIDAY_CODES)}")

    t = _tables(context)
    s = context.store
    dow, month, month_index = t.dow[gi], t.month[gi], t.month_index[gi]
    comp_months = month_index - s["comp_open_month_index"][pos]
    p2_weeks = (days - s["promo2_start_day"][pos]) // 7
    p2_active = (s["Promo2"][pos] == 1) & (p2_weeks >= 0)
    in_interval = (s["promo_interval_mask"][pos] >> (month - 1)) & 1
    region = s["region"][pos]
    rc = context.region_cal
    cell_idx = (pos, dow - 1, promo)
    p = context.params
    ahead = days - context.origin_day           # 1 = the first day after the known history
    horizon = np.clip(ahead, 0, int(p["horizon_cap_days"]))
    reopen = np.clip(s["days_since_reopen_at_origin"][pos] + np.maximum(ahead, 0), 0,
                     int(p["reopen_cap_days"]))
    ly_known = (ahead >= 1) & (ahead <= 364)
    ly = np.zeros(n, dtype=np.float64)
    if ly_known.any() and context.last_year_delta is not None:
        ly[ly_known] = context.last_year_delta[pos[ly_known], ahead[ly_known] - 1]
    ly_known &= ~np.isnan(ly)
    ly = np.where(ly_known, ly, 0.0)

    cols = {
        "Promo": promo,
        "promo_day": promo * dow,
        "StateHoliday": state,
        "SchoolHoliday": school,
        "Store": stores,
        "competition_open_months": np.clip(comp_months, -24, 240),
        "competition_open": (comp_months >= 0).astype(np.int64),
        "promo2_weeks": np.where(p2_active, np.minimum(p2_weeks, 400), -1),
        "promo2_active": p2_active.astype(np.int64),
        "promo2_month": (p2_active & (in_interval == 1)).astype(np.int64),
        **_holiday_distances(rc, region, gi, state, school),
        "cell_mean_log_sales": context.cell["cell_mean_log_sales"][cell_idx],
        "cell_mean_sales": context.cell["cell_mean_sales"][cell_idx],
        "cell_mean_customers": context.cell["cell_mean_customers"][cell_idx],
        "cell_sales_per_customer": context.cell["cell_sales_per_customer"][cell_idx],
        "horizon_days": horizon,
        "cell_recent_log_sales_91d": context.cell["cell_recent_log_sales_91d"][cell_idx],
        "cell_recent_log_sales_364d": context.cell["cell_recent_log_sales_364d"][cell_idx],
        "days_since_reopen": reopen,
        "last_year_delta": ly,
        "last_year_known": ly_known.astype(np.int64),
        "store_carnival_effect": _carnival_effect(context, pos, t.carnival_slot[gi]),
        "store_holiday_effect": _holiday_effect(context, pos, state),
    }
    # column-major: each feature is written contiguously (rows of this array)
    matrix = np.empty((len(FEATURE_NAMES), n), dtype=np.float32)
    matrix[_DAY_ROWS] = t.day[:, gi]
    matrix[_STORE_ROWS] = t.store[:, pos]
    for name, values in cols.items():
        matrix[_INDEX[name]] = values
    return matrix
