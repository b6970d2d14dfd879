"""`FeatureContext`: everything besides the request rows that features may use, fitted once at
training time and frozen into the model.

It holds (1) store attributes from store.csv, (2) store-level sales statistics from the training
window only, (3) calendars known in advance: per-region state/school holidays and the chain-wide
promo schedule from the train and test files, extended by deterministic rules. It never holds
Sales or Customers of any day after `train_end`, so a model cannot learn from the period it is
asked to predict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rossmann_kedro.outliers import outlier_days

from . import calendar as cal

logger = logging.getLogger(__name__)

CATEGORY_CODES = {
    "StoreType": {"a": 0, "b": 1, "c": 2, "d": 3},
    "Assortment": {"a": 0, "b": 1, "c": 2},
}
# Windows (days before the origin) of the store's recent sales levels: part of the feature
# definitions (their names are feature names), not a setting.
RECENT_WINDOWS_DAYS = (28, 91, 182, 364)
# Fewer open days than this in a window (a store back from a gap in its rows on one day, say)
# and its level there is the next longer window's, moved by the chain's day effects.
MIN_LEVEL_DAYS = 7
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec")

#: The settings `FeatureContext.fit` reads; their values live only in
#: conf/base/parameters_feature_engineering.yml (`feature_engineering.context`).
SETTINGS: tuple[str, ...] = (
    "holiday_cap_days", "yearly_cap_days", "promo_cap_days", "recent_weeks",
    "calendar_margin_days", "calendar_horizon_days", "reopen_gap_days", "reopen_cap_days",
    "horizon_cap_days", "outlier_threshold",
)


@dataclass
class FeatureContext:
    """Frozen inputs to `build_features`; build with `FeatureContext.fit`."""

    train_start: str
    train_end: str
    params: dict[str, Any]
    store_ids: np.ndarray                 # sorted int64
    store: dict[str, np.ndarray]          # per-store arrays aligned with store_ids
    cell: dict[str, np.ndarray]           # (n_stores, 7 weekdays, 2 promo) statistics
    grid_start: int                       # day number of calendar index 0
    grid_end: int
    region_cal: dict[str, np.ndarray]     # (n_regions, n_days) calendars and distances
    promo_cal: dict[str, np.ndarray]      # (n_days,) chain-wide promo calendar and distances
    info: dict[str, Any] = field(default_factory=dict)
    # (n_stores, 364): for the day `train_end + 1 + k`, the store's mean log sales around the
    # same day one year (364 days) earlier minus its level in the 4 weeks before the origin one
    # year earlier (NaN where unknown): last year's seasonal shape from the origin on
    last_year_delta: np.ndarray | None = None

    @property
    def origin_day(self) -> int:
        """Day number of `train_end`: the last day whose sales the context knows (the forecast
        origin is the next day; horizon h means `origin_day + h`)."""
        return int(np.datetime64(self.train_end, "D").astype(np.int64))

    @property
    def stores(self) -> frozenset[int]:
        return frozenset(int(s) for s in self.store_ids)

    @property
    def date_range(self) -> tuple[str, str]:
        """First and last date features can be computed for."""
        to = lambda d: str(np.datetime64(int(d), "D"))  # noqa: E731
        return to(self.grid_start), to(self.grid_end)

    @classmethod
    def fit(
        cls,
        history: pd.DataFrame,
        stores: pd.DataFrame,
        calendar_rows: pd.DataFrame | None = None,
        train_end: str | pd.Timestamp | None = None,
        *,
        params: Mapping[str, Any],
    ) -> FeatureContext:
        """Fit from the sales history (sales_clean format; store columns optional), the store
        table (stores_clean) and optional extra rows carrying only calendar information (the test
        file: Date, Store, Promo, StateHoliday, SchoolHoliday).

        Sales statistics use history rows up to `train_end` (default: the last history date),
        open, with Sales > 0 and not outliers among those rows (`rossmann_kedro.outliers` with
        `outlier_threshold`; any `SalesOutlier` column given is recomputed). Calendars use every
        row given: holidays and the promo schedule are published in advance, sales are not. `params` holds every
        key of `SETTINGS` (feature_engineering's `context:` block); there are no defaults.
        """
        t0 = time.perf_counter()
        p = dict(params)
        missing = [k for k in SETTINGS if k not in p]
        if missing:
            raise KeyError(f"FeatureContext.fit: params lack {missing} "
                           "(feature_engineering.context in parameters_feature_engineering.yml)")
        dates = pd.to_datetime(history["Date"])
        end = pd.Timestamp(train_end) if train_end is not None else dates.max()
        window = history.loc[dates <= end]
        if window.empty:
            raise ValueError(f"no history rows on or before train_end={end.date()}")
        # Outliers as these rows alone show them. data_processing's flag is computed over the
        # whole file, and a context fitted at an origin must not let later sales decide which
        # of its days count.
        window = window.assign(SalesOutlier=outlier_days(
            window, float(p["outlier_threshold"])).to_numpy())
        start = pd.to_datetime(window["Date"]).min()

        store_ids = np.sort(stores["Store"].to_numpy(np.int64))
        st = stores.set_index("Store").loc[store_ids]
        store = _store_attributes(st)
        stats_store, cell = _sales_statistics(window, store_ids, p["recent_weeks"], end)
        store.update(stats_store)
        origin_store, origin_cell, last_year = _origin_statistics(window, store_ids, end, p,
                                                                  store, cell)
        store.update(origin_store)
        cell.update(origin_cell)

        cal_cols = ["Store", "Date", "Promo", "StateHoliday", "SchoolHoliday"]
        cal_rows = history[cal_cols]
        if calendar_rows is not None and len(calendar_rows):
            cal_rows = pd.concat([cal_rows, calendar_rows[cal_cols]], ignore_index=True)
        cal_rows = cal_rows.loc[cal_rows["Store"].isin(store_ids)]
        day_nums = cal.to_day_numbers(cal_rows["Date"])
        grid_start = int(day_nums.min()) - int(p["calendar_margin_days"])
        grid_end = int(day_nums.max()) + int(p["calendar_horizon_days"])

        groups = cal.holiday_groups(history.loc[history["Store"].isin(store_ids)])
        # stores with no history rows at all get their own region
        groups = groups.reindex(store_ids)
        n_known = int(groups.max()) + 1 if groups.notna().any() else 0
        missing = groups.isna()
        groups[missing] = np.arange(n_known, n_known + int(missing.sum()))
        groups = groups.astype(np.int64)
        store["region"] = groups.to_numpy()

        state, school = cal.build_region_calendars(cal_rows, groups, grid_start, grid_end)
        cap_h = int(p["holiday_cap_days"])
        su_until, su_since = cal.until_since(state > 0, cap_h)
        sc_until, sc_since = cal.until_since(school > 0, cap_h)
        region_cal = {
            "state": state, "school": school,
            "state_until": su_until, "state_since": su_since,
            "school_until": sc_until, "school_since": sc_since,
        }
        promo = cal.build_promo_calendar(cal_rows, grid_start, grid_end)
        pr_until, pr_since = cal.until_since(promo > 0, int(p["promo_cap_days"]))
        # "was there a promo in the previous / next calendar week" (Mon..Fri of that week)
        grid = np.arange(grid_start, grid_end + 1)
        monday = grid - (cal.weekday_of(grid) - 1) - grid_start
        prev_wk = np.clip(monday - 7, 0, len(grid) - 1)
        next_wk = np.clip(monday + 7, 0, len(grid) - 1)
        promo_cal = {
            "promo": promo, "until": pr_until, "since": pr_since,
            "prev_week": promo[prev_wk], "next_week": promo[next_wk],
        }
        ctx = cls(
            train_start=str(start.date()), train_end=str(end.date()), params=p,
            store_ids=store_ids, store=store, cell=cell, grid_start=grid_start,
            grid_end=grid_end, region_cal=region_cal, promo_cal=promo_cal,
            last_year_delta=last_year,
            info={"n_history_rows": int(len(window)), "n_regions": int(state.shape[0]),
                  "n_calendar_rows": int(len(cal_rows))},
        )
        logger.info(
            "FeatureContext fitted: %d stores, %d regions, stats from %d rows %s..%s, calendar "
            "%s..%s, in %.2fs", len(store_ids), state.shape[0], len(window), ctx.train_start,
            ctx.train_end, *ctx.date_range, time.perf_counter() - t0,
        )
        return ctx


def _store_attributes(st: pd.DataFrame) -> dict[str, np.ndarray]:
    """Store-table columns as numeric arrays (categoricals coded, NaNs made explicit)."""
    out: dict[str, np.ndarray] = {}
    for col, codes in CATEGORY_CODES.items():
        vals = st[col].astype(str).map(codes)
        if vals.isna().any():
            bad = sorted(set(st.loc[vals.isna(), col].astype(str)))
            raise ValueError(f"store table: unknown {col} values {bad}")
        out[col] = vals.to_numpy(np.int64)
    dist = pd.to_numeric(st["CompetitionDistance"], errors="coerce")
    miss = dist.isna().to_numpy().copy()
    if "CompetitionDistanceMissing" in st:
        miss |= st["CompetitionDistanceMissing"].fillna(True).to_numpy(bool)
    fill = float(dist.max()) if dist.notna().any() else 1e5
    out["CompetitionDistance"] = dist.fillna(fill).to_numpy(np.float64)
    out["CompetitionDistanceMissing"] = miss.astype(np.int64)
    year = pd.to_numeric(st["CompetitionOpenSinceYear"], errors="coerce").fillna(0).to_numpy(np.int64)
    month = pd.to_numeric(st["CompetitionOpenSinceMonth"], errors="coerce").fillna(0).to_numpy(np.int64)
    # month index of the opening; unknown (0) -> "long before", i.e. -inf-like
    out["comp_open_month_index"] = np.where(year > 0, year * 12 + np.clip(month, 1, 12) - 1, -10**6)
    promo2 = pd.to_numeric(st["Promo2"], errors="coerce").fillna(0).to_numpy(np.int64)
    p2w = pd.to_numeric(st["Promo2SinceWeek"], errors="coerce").fillna(0).to_numpy(np.int64)
    p2y = pd.to_numeric(st["Promo2SinceYear"], errors="coerce").fillna(0).to_numpy(np.int64)
    start = np.full(len(st), 10**7, dtype=np.int64)  # never
    has = (promo2 == 1) & (p2y > 0)
    if has.any():
        jan4 = cal.fixed_day(p2y[has], 1, 4)
        week1_monday = jan4 - (cal.weekday_of(jan4) - 1)
        start[has] = week1_monday + (np.clip(p2w[has], 1, 53) - 1) * 7
    out["Promo2"] = promo2
    out["promo2_start_day"] = start
    interval = st["PromoInterval"].fillna("").astype(str).to_numpy()
    mask = np.zeros(len(st), dtype=np.int64)
    for i, text in enumerate(interval):
        for part in filter(None, (x.strip() for x in text.split(","))):
            key = "Sept" if part.startswith("Sep") else part
            if key not in MONTH_ABBR:
                raise ValueError(f"store table: unknown PromoInterval month {part!r}")
            mask[i] |= 1 << MONTH_ABBR.index(key)
    out["promo_interval_mask"] = mask
    return out


def _sales_statistics(
    window: pd.DataFrame, store_ids: np.ndarray, recent_weeks: int, end: pd.Timestamp
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Store-level and store x weekday x promo means from the training window only."""
    ok = (window["Open"] == 1) & (window["Sales"] > 0)
    if "SalesOutlier" in window:
        ok &= ~window["SalesOutlier"].astype(bool)
    w = window.loc[ok, ["Store", "Date", "DayOfWeek", "Promo", "Sales", "Customers"]]
    sales = w["Sales"].to_numpy(np.float64)
    cust = w["Customers"].to_numpy(np.float64)
    df = pd.DataFrame({
        "Store": w["Store"].to_numpy(np.int64),
        "dow": w["DayOfWeek"].to_numpy(np.int64) - 1,
        "promo": w["Promo"].to_numpy(np.int64),
        "log_sales": np.log1p(sales), "sales": sales, "customers": cust,
        "recent": (pd.to_datetime(w["Date"]) > end - pd.Timedelta(weeks=recent_weeks)).to_numpy(),
    })
    g_mean = df[["log_sales", "sales", "customers"]].mean()
    by_store = df.groupby("Store").agg(
        log_sales=("log_sales", "mean"), log_std=("log_sales", "std"),
        sales=("sales", "mean"), customers=("customers", "mean"),
    ).reindex(store_ids)
    recent = df.loc[df["recent"]].groupby("Store")["log_sales"].mean().reindex(store_ids)
    store = {
        "store_mean_log_sales": by_store["log_sales"].fillna(g_mean["log_sales"]).to_numpy(),
        "store_std_log_sales": by_store["log_std"].fillna(0.0).to_numpy(),
        "store_mean_sales": by_store["sales"].fillna(g_mean["sales"]).to_numpy(),
        "store_mean_customers": by_store["customers"].fillna(g_mean["customers"]).to_numpy(),
    }
    store["store_sales_per_customer"] = store["store_mean_sales"] / np.maximum(
        store["store_mean_customers"], 1.0)
    store["store_recent_log_delta"] = (recent - by_store["log_sales"]).fillna(0.0).to_numpy()

    cells = df.groupby(["Store", "dow", "promo"])[["log_sales", "sales", "customers"]].mean()
    full = pd.MultiIndex.from_product([store_ids, range(7), range(2)], names=["Store", "dow", "promo"])
    cells = cells.reindex(full)
    shape = (len(store_ids), 7, 2)
    cell: dict[str, np.ndarray] = {}
    for col, fallback in (("log_sales", "store_mean_log_sales"), ("sales", "store_mean_sales"),
                          ("customers", "store_mean_customers")):
        arr = cells[col].to_numpy().reshape(shape)
        fb = np.broadcast_to(store[fallback][:, None, None], shape)
        cell[f"cell_mean_{col}"] = np.where(np.isnan(arr), fb, arr)
    cell["cell_sales_per_customer"] = cell["cell_mean_sales"] / np.maximum(
        cell["cell_mean_customers"], 1.0)
    return store, cell


def _origin_statistics(
    window: pd.DataFrame, store_ids: np.ndarray, end: pd.Timestamp, p: dict[str, Any],
    store: dict[str, np.ndarray], cell: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """What a server knows about each store the day after `end` (the forecast origin): recent
    sales levels over several windows, the trend between them, how long the store has been
    closed or open since its last long closure, and last year's seasonal shape ahead.

    Only rows on or before `end` are read, so these are honest features for any day after it.
    A window holding fewer than `MIN_LEVEL_DAYS` of the store's days (a store closed for
    refurbishment, or without rows) falls back to the next longer window, then to the store's
    long-run statistics, each moved by the chain's day effects (see below).
    """
    end_day = int(np.datetime64(end.date(), "D").astype(np.int64))
    w = window.loc[(window["Open"] == 1) & (window["Sales"] > 0)]
    all_day = cal.to_day_numbers(w["Date"])
    all_spos = np.searchsorted(store_ids, w["Store"].to_numpy(np.int64))
    known = (all_spos < len(store_ids))
    known[known] = store_ids[all_spos[known]] == w["Store"].to_numpy(np.int64)[known]
    all_log_sales = np.log1p(w["Sales"].to_numpy(np.float64))
    all_promo = w["Promo"].to_numpy(np.int64)
    clean = known.copy()
    if "SalesOutlier" in w:
        clean &= ~w["SalesOutlier"].astype(bool).to_numpy()
    # open state-holiday days, outlier-flagged or not (the flag catches exactly these days)
    holiday = known & (w["StateHoliday"].astype(str).to_numpy() != "0") \
        if "StateHoliday" in w else np.zeros(len(w), dtype=bool)
    spos, day = all_spos[clean], all_day[clean]
    age = end_day - day                      # 0 = the origin's last known day
    log_sales, promo = all_log_sales[clean], all_promo[clean]
    dow = w["DayOfWeek"].to_numpy(np.int64)[clean] - 1
    n = len(store_ids)

    # A data gap is not a level: a store without rows for part of a window (rows missing from
    # the file, not closures) would take the mean of the days it has, e.g. spring for a window
    # that holds December. So each recent level is the store's mean of log sales minus the
    # chain's day effect (its days' mean residual against the stores' own weekday x promo
    # cells), plus the chain's mean day effect over the whole window; for a store with rows on
    # the chain's usual days the two cancel and the level is its plain mean.
    longest = RECENT_WINDOWS_DAYS[-1]
    day_effect = _day_effects(spos, dow, promo, log_sales, age, cell["cell_mean_log_sales"],
                              longest)
    adjusted = log_sales - day_effect

    chain_effect = {}  # window -> the chain's mean day effect over its rows
    for days in RECENT_WINDOWS_DAYS:
        in_window = day_effect[age < days]
        chain_effect[days] = float(in_window.mean()) if len(in_window) else 0.0

    def store_mean(mask: np.ndarray) -> np.ndarray:
        tot = np.bincount(spos[mask], weights=adjusted[mask], minlength=n)
        cnt = np.bincount(spos[mask], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt >= MIN_LEVEL_DAYS, tot / np.maximum(cnt, 1), np.nan)

    out: dict[str, np.ndarray] = {}
    fallback = store["store_mean_log_sales"] - chain_effect[longest]  # in day-adjusted terms
    for days in RECENT_WINDOWS_DAYS[::-1]:  # longest first
        level = store_mean(age < days)
        level = np.where(np.isnan(level), fallback, level)
        out[f"recent_log_sales_{days}d"] = level + chain_effect[days]
        fallback = level
    windows = RECENT_WINDOWS_DAYS
    out["recent_trend"] = (out[f"recent_log_sales_{windows[1]}d"]
                           - out[f"recent_log_sales_{windows[-1]}d"])

    # store x weekday x promo levels over the short and the long recent window
    cells: dict[str, np.ndarray] = {}
    for days in (windows[1], windows[-1]):
        mask = age < days
        flat = spos[mask] * 14 + dow[mask] * 2 + promo[mask]
        cnt = np.bincount(flat, minlength=n * 14)
        tot = np.bincount(flat, weights=adjusted[mask], minlength=n * 14) + chain_effect[days] * cnt
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan).reshape(n, 7, 2)
        # no such day recently: the long-run cell shifted by the store's recent level change
        shift = (out[f"recent_log_sales_{days}d"] - store["store_mean_log_sales"])[:, None, None]
        cells[f"cell_recent_log_sales_{days}d"] = np.where(
            np.isnan(mean), cell["cell_mean_log_sales"] + shift, mean)

    # closures: days since the last open day, and since the reopening after the last long gap
    cap = int(p["reopen_cap_days"])
    gap = int(p["reopen_gap_days"])
    last_open = np.full(n, -10**9, dtype=np.int64)
    np.maximum.at(last_open, spos, day)
    out["days_closed_at_origin"] = np.clip(end_day - last_open, 0, cap).astype(np.float64)
    reopen = np.full(n, -10**9, dtype=np.int64)
    if len(day):
        order = np.lexsort((day, spos))
        s_sorted, d_sorted = spos[order], day[order]
        new_run = np.ones(len(order), dtype=bool)
        new_run[1:] = (s_sorted[1:] != s_sorted[:-1]) | (d_sorted[1:] - d_sorted[:-1] > gap)
        first_of_store = np.ones(len(order), dtype=bool)
        first_of_store[1:] = s_sorted[1:] != s_sorted[:-1]
        after_gap = new_run & ~first_of_store   # first open day after a closure
        np.maximum.at(reopen, s_sorted[after_gap], d_sorted[after_gap])
    out["days_since_reopen_at_origin"] = np.clip(end_day - reopen, 0, cap).astype(np.float64)

    # last year's shape: mean log sales over the week centred on (target - 364), minus the mean
    # over the 4 weeks before (origin - 364); only days on or before the origin are used
    span = 364 + 28 + 4
    grid = np.full((n, span), np.nan)
    recent = age < span
    grid[spos[recent], span - 1 - age[recent]] = log_sales[recent]  # column span-1 = end_day
    val = np.nan_to_num(grid)
    cnt = (~np.isnan(grid)).astype(np.float64)
    csum_v = np.concatenate([np.zeros((n, 1)), np.cumsum(val, axis=1)], axis=1)
    csum_c = np.concatenate([np.zeros((n, 1)), np.cumsum(cnt, axis=1)], axis=1)

    def window_mean(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Mean over grid columns lo..hi-1 (per column pair, broadcast over stores)."""
        lo, hi = np.clip(lo, 0, span), np.clip(hi, 0, span)
        v = csum_v[:, hi] - csum_v[:, lo]
        c = csum_c[:, hi] - csum_c[:, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c >= 3, v / np.maximum(c, 1), np.nan)

    col_end = span - 1                       # column of end_day
    k = np.arange(1, 365)                    # target = end_day + k; centre = end_day + k - 364
    centre = col_end + k - 364
    shape_ly = window_mean(centre - 3, np.minimum(centre + 4, col_end + 1))
    base_col = col_end - 364
    base_ly = window_mean(np.array([base_col - 27]), np.array([base_col + 1]))
    last_year = (shape_ly - base_ly).astype(np.float32)
    out["carnival_effect"] = _carnival_effects(spos, day, log_sales, promo, n, end_day)
    out["holiday_effect"] = _holiday_effects(
        (all_spos[holiday], all_day[holiday], all_log_sales[holiday], all_promo[holiday]),
        spos, day, log_sales, promo, n, end_day)
    return out, cells, last_year


def _day_effects(spos: np.ndarray, dow: np.ndarray, promo: np.ndarray, log_sales: np.ndarray,
                 age: np.ndarray, cell_mean: np.ndarray, max_age: int) -> np.ndarray:
    """Per row: the chain's mean log-sales residual on the row's day (residual = log sales minus
    the store's weekday x promo cell mean), for rows less than `max_age` days before the origin;
    0 for older rows (no recent window reaches them)."""
    recent = age < max_age
    resid = log_sales[recent] - cell_mean[spos[recent], dow[recent], promo[recent]]
    tot = np.bincount(age[recent], weights=resid, minlength=max_age)
    cnt = np.bincount(age[recent], minlength=max_age)
    by_age = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
    out = np.zeros(len(age))
    out[recent] = by_age[age[recent]]
    return out


def _reference_grids(spos: np.ndarray, day: np.ndarray, log_sales: np.ndarray,
                     promo: np.ndarray, n: int, end_day: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(log sales, promo flag or -1) per store x day from the first day of the history to
    `end_day`, NaN / -1 where the store was closed or the day is unknown; and that first day."""
    first = int(day.min())
    grid = np.full((n, end_day - first + 1), np.nan)
    grid[spos, day - first] = log_sales
    pgrid = np.full(grid.shape, -1, dtype=np.int64)
    pgrid[spos, day - first] = promo
    return grid, pgrid, first


_REFERENCE_STEPS = np.array([-21, -14, -7, 7, 14, 21])


def _gap_to_references(grid: np.ndarray, pgrid: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                       values: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """Log sales `values` of (store row, day column) pairs minus the mean of the same store's
    same weekday with the same promo flag one to three weeks before and after; NaN with fewer
    than two such days."""
    refs = cols[:, None] + _REFERENCE_STEPS[None, :]
    inside = (refs >= 0) & (refs < grid.shape[1])
    refs_c = np.clip(refs, 0, grid.shape[1] - 1)
    ref_vals = np.where(inside & (pgrid[rows[:, None], refs_c] == promo[:, None]),
                        grid[rows[:, None], refs_c], np.nan)
    n_ref = np.sum(~np.isnan(ref_vals), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        base = np.where(n_ref >= 2, np.nansum(ref_vals, axis=1) / np.maximum(n_ref, 1), np.nan)
    return values - base


def _holiday_effects(holidays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     spos: np.ndarray, day: np.ndarray, log_sales: np.ndarray,
                     promo: np.ndarray, n: int, end_day: int) -> np.ndarray:
    """(n stores,): each store's mean log-sales gap on the state holidays it was open
    (`holidays`: their store positions, days, log sales and promo flags), to the same weekday
    with the same promo flag one to three weeks around in the history (`spos`, `day`, ...); 0 for
    stores never open on one. Few stores open on holidays, and how much they sell then is their
    own habit (a station store sells as usual, others open a few hours and sell a quarter),
    repeating from holiday to holiday. Only days on or before the origin are read."""
    effect = np.zeros(n)
    if len(day) == 0:
        return effect
    h_pos, h_day, h_log_sales, h_promo = holidays
    keep = h_day >= int(day.min())           # a reference grid starts there
    if not keep.any():
        return effect
    grid, pgrid, first = _reference_grids(spos, day, log_sales, promo, n, end_day)
    gap = _gap_to_references(grid, pgrid, h_pos[keep], h_day[keep] - first, h_log_sales[keep],
                             h_promo[keep])
    ok = ~np.isnan(gap)
    total = np.bincount(h_pos[keep][ok], weights=gap[ok], minlength=n)
    count = np.bincount(h_pos[keep][ok], minlength=n)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def _carnival_effects(spos: np.ndarray, day: np.ndarray, log_sales: np.ndarray,
                      promo: np.ndarray, n: int, end_day: int) -> np.ndarray:
    """(n stores, len(CARNIVAL_EFFECT_OFFSETS)): each store's mean log-sales gap on the Carnival
    days of the history (offsets from Rosenmontag) to the same weekday with the same promo flag
    one to three weeks before and after; 0 where the store has no such day. The gap is very
    store-specific (Rhineland stores sell a fraction, most others the usual) and repeats year
    after year (per-store correlation 0.83-0.86 between 2013, 2014 and 2015 on Rosenmontag).
    Only days on or before the origin are read."""
    effect = np.zeros((n, len(cal.CARNIVAL_EFFECT_OFFSETS)))
    if len(day) == 0:
        return effect
    grid, pgrid, first = _reference_grids(spos, day, log_sales, promo, n, end_day)
    years = np.arange(cal.year_of(np.array([first]))[0], cal.year_of(np.array([end_day]))[0] + 1)
    mondays = cal.easter_day(years) - cal.CARNIVAL_MONDAY_BEFORE_EASTER
    total, count = np.zeros_like(effect), np.zeros_like(effect)
    stores = np.arange(n)
    for monday in mondays:
        for j, off in enumerate(cal.CARNIVAL_EFFECT_OFFSETS):
            col = int(monday + off - first)
            if col < 0 or col >= grid.shape[1]:
                continue
            cols = np.full(n, col)
            gap = _gap_to_references(grid, pgrid, stores, cols, grid[:, col], pgrid[:, col])
            ok = ~np.isnan(gap)
            total[ok, j] += gap[ok]
            count[ok, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), 0.0)
