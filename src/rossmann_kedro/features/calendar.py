"""Calendars a server can know in advance: state/school holidays per holiday region and the
chain-wide promo schedule, on a dense day grid, plus the fixed rules (Christmas, Easter) used for
dates no file covers.

Everything here works on integer day numbers (days since 1970-01-01) so that a feature lookup for
one row is an array index, not a pandas operation: the same code serves a 41k-row batch and a
single gRPC request, and gives identical numbers for both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dateutil.easter import easter

HOLIDAY_CODES = {"0": 0, "a": 1, "b": 2, "c": 3}
_DAY = np.timedelta64(1, "D")
# Easter Sunday as a day number for every year a request can plausibly ask about.
_EASTER_YEARS = np.arange(1950, 2151)
_EASTER_DAYS = np.array(
    [np.datetime64(easter(int(y)), "D").astype(np.int64) for y in _EASTER_YEARS], dtype=np.int64
)


def to_day_numbers(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates (any datetime64 resolution or ISO strings) -> int64 days since 1970-01-01."""
    values = pd.to_datetime(pd.Series(dates) if not isinstance(dates, pd.Series) else dates)
    return values.to_numpy().astype("datetime64[D]").astype(np.int64)


def year_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def month_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1


def day_of_month(days: np.ndarray) -> np.ndarray:
    d = days.astype("datetime64[D]")
    return (d - d.astype("datetime64[M]")).astype(np.int64) + 1


def weekday_of(days: np.ndarray) -> np.ndarray:
    """1 = Monday .. 7 = Sunday (Kaggle's DayOfWeek); 1970-01-01 was a Thursday."""
    return (days + 3) % 7 + 1


def iso_week_of(days: np.ndarray) -> np.ndarray:
    thursday = days - (weekday_of(days) - 1) + 3
    jan1 = thursday.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]")
    return (thursday - jan1.astype(np.int64)) // 7 + 1


def easter_day(years: np.ndarray) -> np.ndarray:
    idx = np.clip(np.asarray(years) - _EASTER_YEARS[0], 0, len(_EASTER_YEARS) - 1)
    return _EASTER_DAYS[idx]


# Carnival (Karneval / Fasching) is no public holiday, yet in the Rhineland and the south
# stores close early or sell little on its days, which move with Easter: Weiberfastnacht is
# Easter - 52, Rosenmontag Easter - 48, Shrove Tuesday Easter - 47, Ash Wednesday Easter - 46.
CARNIVAL_MONDAY_BEFORE_EASTER = 48
CARNIVAL_WINDOW_DAYS = 7   # offsets beyond +-7 days of Rosenmontag all read as +-7
# the days whose store-specific sales gap the context learns: Weiberfastnacht .. Ash Wednesday
CARNIVAL_EFFECT_OFFSETS = (-4, -3, -2, -1, 0, 1, 2)


def carnival_offset(days: np.ndarray) -> np.ndarray:
    """Days from that year's Rosenmontag (Carnival Monday), clipped to +-CARNIVAL_WINDOW_DAYS:
    -4 is Weiberfastnacht, 0 Rosenmontag, +1 Shrove Tuesday; known years ahead, like Easter."""
    monday = easter_day(year_of(days)) - CARNIVAL_MONDAY_BEFORE_EASTER
    return np.clip(days - monday, -CARNIVAL_WINDOW_DAYS, CARNIVAL_WINDOW_DAYS)


def fixed_day(years: np.ndarray, month: int, day: int) -> np.ndarray:
    """Day number of month/day in each of `years`."""
    y = np.asarray(years, dtype=np.int64)
    months = (y - 1970) * 12 + (month - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + (day - 1)


def distance_to_yearly(days: np.ndarray, anchor_of_year, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(days until the next, days since the last) occurrence of a once-a-year day, capped.

    `anchor_of_year(years)` gives the day number of the event in each year (Christmas, Easter).
    """
    y = year_of(days)
    this = anchor_of_year(y)
    nxt = np.where(days <= this, this, anchor_of_year(y + 1))
    prev = np.where(days >= this, this, anchor_of_year(y - 1))
    return np.minimum(nxt - days, cap), np.minimum(days - prev, cap)


def until_since(flags: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """For a boolean array over a day grid (last axis): days until the next and since the last
    True, 0 on a True day, capped at `cap` (also when there is none)."""
    n = flags.shape[-1]
    idx = np.arange(n)
    big = n + cap + 1
    last = np.maximum.accumulate(np.where(flags, idx, -big), axis=-1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(flags, idx, 2 * big), -1), axis=-1), -1)
    since = np.minimum(idx - last, cap)
    until = np.minimum(nxt - idx, cap)
    return until.astype(np.int16), since.astype(np.int16)


def holiday_groups(train: pd.DataFrame) -> pd.Series:
    """Store -> holiday-region id (0..k-1).

    store.csv has no German state, but stores of one state share public and school holidays, so
    stores with the same holiday pattern on the days every store reports form one region (on the
    real data: 12 regions, the 12 states of the Kaggle store_states file). Without such days
    (no date reported by every store) each store is its own region.
    """
    stores = np.sort(train["Store"].unique())
    per_day = train.groupby("Date")["Store"].nunique()
    common = per_day.index[per_day == len(stores)]
    sub = train.loc[train["Date"].isin(common), ["Store", "Date", "StateHoliday", "SchoolHoliday"]]
    sub = sub.sort_values(["Store", "Date"])
    if len(common) == 0 or len(sub) != len(stores) * len(common):
        return pd.Series(np.arange(len(stores)), index=stores, dtype=np.int64)
    code = holiday_codes(sub["StateHoliday"]) * 2 + sub["SchoolHoliday"].to_numpy(np.int8)
    _, region = np.unique(code.reshape(len(stores), len(common)), axis=0, return_inverse=True)
    return pd.Series(region.ravel().astype(np.int64), index=stores)


def holiday_codes(values: pd.Series) -> np.ndarray:
    """StateHoliday strings -> int8 codes (0 none, 1 public, 2 Easter, 3 Christmas)."""
    arr = values.to_numpy(dtype=object)
    out = np.zeros(len(arr), dtype=np.int8)
    for key, code in HOLIDAY_CODES.items():
        if code:
            out[arr == key] = code
    return out


def _learn_holiday_keys(
    days: np.ndarray, codes: np.ndarray
) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
    """Which recurring holidays a region keeps, learnt from its covered days.

    An Easter-offset key (Good Friday, Easter Monday, Ascension, Whit Monday, Corpus Christi) is
    kept when the region has that holiday in at least half of the covered years *and* in two of
    them (one year of coverage: that one); the fixed-date keys are then learnt the same way from
    the holidays the Easter keys do not explain. Easter keys come first because with two covered
    years a movable holiday also hits each of its two dates in "half the years"; the count of
    two is what tells a fixed date (same date every year) from a movable one.
    """
    years = year_of(days)
    months, dom = month_of(days), day_of_month(days)
    eoff = days - easter_day(years)
    hol = codes > 0

    def kept(keys_hol: pd.Series, codes_hol: np.ndarray, covered: pd.Series) -> dict:
        out = {}
        frame = pd.DataFrame({"k": keys_hol.to_numpy(), "c": codes_hol})
        for key, grp in frame.groupby("k"):
            cov = int(covered.get(key, 1))
            if len(grp) / cov >= 0.5 and len(grp) >= min(2, cov):
                out[key] = int(grp["c"].mode().iloc[0])
        return out

    near = np.abs(eoff) <= 70
    cov_e = pd.Series(eoff[near]).value_counts()
    sel = hol & near
    easter_keys = {int(k): v for k, v in kept(pd.Series(eoff[sel]), codes[sel], cov_e).items()}
    explained = np.isin(eoff, list(easter_keys)) & hol
    fkey = pd.Series(list(zip(months.tolist(), dom.tolist(), strict=True)))
    cov_fixed = fkey.value_counts()
    rest = hol & ~explained
    fixed = {(int(k[0]), int(k[1])): v
             for k, v in kept(fkey[rest].reset_index(drop=True), codes[rest], cov_fixed).items()}
    return fixed, easter_keys


def rule_holidays(days: np.ndarray, fixed: dict[tuple[int, int], int],
                  easter_keys: dict[int, int]) -> np.ndarray:
    """Holiday codes for arbitrary days from learnt recurring keys."""
    out = np.zeros(len(days), dtype=np.int8)
    months, dom = month_of(days), day_of_month(days)
    for (m, d), c in fixed.items():
        out[(months == m) & (dom == d)] = c
    eoff = days - easter_day(year_of(days))
    for off, c in easter_keys.items():
        out[eoff == off] = c
    return out


def build_region_calendars(
    rows: pd.DataFrame, groups: pd.Series, grid_start: int, grid_end: int
) -> tuple[np.ndarray, np.ndarray]:
    """State-holiday codes and school-holiday flags per region on [grid_start, grid_end].

    Days that some file covers take the region's majority value. Other days are filled by rule:
    state holidays from the recurring holidays the region keeps (learnt above); school holidays
    from the same weekday 52 weeks earlier (later, before the first covered day), since German
    school holidays recur roughly yearly and are otherwise unknowable.
    """
    n_days = grid_end - grid_start + 1
    n_groups = int(groups.max()) + 1
    state = np.zeros((n_groups, n_days), dtype=np.int8)
    school = np.zeros((n_groups, n_days), dtype=np.int8)
    g_of_row = groups.reindex(rows["Store"].to_numpy()).to_numpy()
    df = pd.DataFrame({
        "g": g_of_row,
        "day": to_day_numbers(rows["Date"]),
        "state": holiday_codes(rows["StateHoliday"]),
        "school": rows["SchoolHoliday"].to_numpy(np.int8),
    })
    agg = _fast_majority(df)
    grid_days = np.arange(grid_start, grid_end + 1)
    for g in range(n_groups):
        part = agg.loc[g] if g in agg.index.get_level_values(0) else None
        covered = np.zeros(n_days, dtype=bool)
        if part is not None:
            pos = part.index.to_numpy() - grid_start
            ok = (pos >= 0) & (pos < n_days)
            pos = pos[ok]
            state[g, pos] = part["state"].to_numpy()[ok]
            school[g, pos] = (part["school"].to_numpy()[ok] >= 0.5).astype(np.int8)
            covered[pos] = True
            fixed, ekeys = _learn_holiday_keys(pos + grid_start, state[g, pos])
            state[g, ~covered] = rule_holidays(grid_days[~covered], fixed, ekeys)
        school[g] = _fill_yearly(school[g], covered)
    return state, school


def _fast_majority(df: pd.DataFrame) -> pd.DataFrame:
    """Majority state-holiday code and school-holiday share per (region, day), vectorised."""
    counts = df.groupby(["g", "day", "state"]).size().rename("n").reset_index()
    counts = counts.sort_values(["g", "day", "n"], ascending=[True, True, False])
    top = counts.drop_duplicates(["g", "day"]).set_index(["g", "day"])["state"]
    school = df.groupby(["g", "day"])["school"].mean()
    return pd.DataFrame({"state": top, "school": school})


def _fill_yearly(values: np.ndarray, covered: np.ndarray, period: int = 364) -> np.ndarray:
    """Fill uncovered days with the value `period` days earlier (later before the first covered
    day); deterministic, so a given context always gives the same calendar."""
    out = values.copy()
    known = covered.copy()
    if not known.any():
        return out
    for _ in range(len(out) // period + 2):
        todo = np.flatnonzero(~known)
        if len(todo) == 0:
            break
        src = todo - period
        ok = (src >= 0) & known[np.clip(src, 0, None)]
        out[todo[ok]] = out[src[ok]]
        known[todo[ok]] = True
        todo = np.flatnonzero(~known)
        src = todo + period
        ok = (src < len(out)) & known[np.clip(src, None, len(out) - 1)]
        out[todo[ok]] = out[src[ok]]
        known[todo[ok]] = True
    return out


def build_promo_calendar(rows: pd.DataFrame, grid_start: int, grid_end: int) -> np.ndarray:
    """Chain-wide promo flag per day on the grid.

    Rossmann runs `Promo` for the whole chain, Monday to Friday, in alternating weeks (sometimes
    two in a row), announced in advance: the train and test files give it for their weeks. Weeks
    no file covers continue the alternation from the nearest known week.
    """
    # Weeks counted from the Monday on or before grid_start.
    monday0 = grid_start - (weekday_of(np.array([grid_start]))[0] - 1)
    n_weeks = (grid_end - monday0) // 7 + 1
    days = to_day_numbers(rows["Date"])
    wk = (days - monday0) // 7
    ok = (wk >= 0) & (wk < n_weeks) & (weekday_of(days) <= 5)
    per_week = pd.Series(rows["Promo"].to_numpy()[ok]).groupby(wk[ok]).mean()
    weeks = np.full(n_weeks, -1, dtype=np.int8)
    weeks[per_week.index.to_numpy()] = (per_week.to_numpy() >= 0.5).astype(np.int8)
    known = np.flatnonzero(weeks >= 0)
    if len(known):
        for w in range(known[0] + 1, n_weeks):
            if weeks[w] < 0:
                weeks[w] = 1 - weeks[w - 1]
        for w in range(known[0] - 1, -1, -1):
            weeks[w] = 1 - weeks[w + 1]
    else:
        weeks[:] = 0
    grid = np.arange(grid_start, grid_end + 1)
    return (weeks[(grid - monday0) // 7] * (weekday_of(grid) <= 5)).astype(np.int8)
