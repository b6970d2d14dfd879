"""Nodes of the eda pipeline: pure functions from the cleaned sales tables to numbers and tables.

Every analysis returns a small JSON-able `summary` dict (the numbers the report quotes) and one or
more aggregated tables (what the plots draw). Nothing here plots or reads files.

Most comparisons use `RelSales` = a day's sales divided by the store's mean sales on the same
weekday with the same promo flag. That removes store size, the weekly pattern and the promo
calendar at once, so "Christmas week: +40%" is not just "more Mondays" or "more promo days".
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from dateutil.easter import easter
from scipy import stats

from rossmann_kedro.pipelines.eda.config import (
    ClosuresConfig,
    CompetitionConfig,
    CorrelationConfig,
    CustomersSalesConfig,
    DistributionsConfig,
    HolidaysConfig,
    PromoConfig,
    PromoTrainTestConfig,
    SeasonalityConfig,
    TradingDaysConfig,
)

logger = logging.getLogger(__name__)

TRADING_COLUMNS = [
    "Store", "Date", "DayOfWeek", "Sales", "Customers", "Promo", "StateHoliday", "SchoolHoliday",
    "StoreType", "Assortment", "CompetitionDistance", "CompetitionDistanceMissing", "Promo2",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
@contextmanager
def _timed(step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    logger.info("eda %s done in %.2f s", step, time.perf_counter() - start)


def _num(x: Any, digits: int = 4) -> float | None:
    """JSON-safe rounded float (None for NaN/inf) so summaries load anywhere."""
    if x is None:
        return None
    x = float(x)
    return None if not math.isfinite(x) else round(x, digits)


def _pct(ratio: float) -> float | None:
    """Ratio -> percentage change (1.388 -> 38.8)."""
    return _num((ratio - 1.0) * 100.0, 1)


class _Grid:
    """Dense store x calendar-day matrix of one column (NaN where there is no row).

    Window analyses (days around holidays, closures, competitor openings) become index arithmetic
    on this matrix instead of millions of merges; 1,115 stores x 900 days is only ~8 MB.
    """

    def __init__(self, df: pd.DataFrame, column: str, stores: np.ndarray, first: pd.Timestamp,
                 n_days: int) -> None:
        self.stores, self.first, self.n_days = stores, first, n_days
        self.values = np.full((len(stores), n_days), np.nan)
        rows = np.searchsorted(stores, df["Store"].to_numpy())
        cols = self.day_index(df["Date"])
        self.values[rows, cols] = df[column].to_numpy(dtype=float)

    def day_index(self, dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        return ((pd.DatetimeIndex(dates) - self.first).days).to_numpy()

    def window(self, rows: np.ndarray, cols: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Values at (row, col + offset) for every event x offset; NaN outside the calendar."""
        c = cols[:, None] + offsets[None, :]
        inside = (c >= 0) & (c < self.n_days)
        out = np.full(c.shape, np.nan)
        out[inside] = self.values[np.broadcast_to(rows[:, None], c.shape)[inside], c[inside]]
        return out


def _grid_for(df: pd.DataFrame, column: str, calendar: pd.DataFrame) -> _Grid:
    stores = np.sort(calendar["Store"].unique())
    first = calendar["Date"].min()
    n_days = (calendar["Date"].max() - first).days + 1
    return _Grid(df, column, stores, first, n_days)


def _profile(values: np.ndarray, offsets: np.ndarray, label: str) -> pd.DataFrame:
    """Mean and count per offset of an (events x offsets) window matrix."""
    means = _nanmean(values, axis=0) if len(values) else np.full(len(offsets), np.nan)
    counts = (~np.isnan(values)).sum(axis=0) if len(values) else np.zeros(len(offsets), int)
    return pd.DataFrame({"event": label, "offset_days": offsets, "mean_rel_sales": means,
                         "n_days": counts})


def _nanmean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """np.nanmean without the all-NaN warning: an empty window is simply NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _window_mean(values: np.ndarray, offsets: np.ndarray, lo: int, hi: int) -> float:
    return float(_nanmean(values[:, (offsets >= lo) & (offsets <= hi)]))


# --------------------------------------------------------------------------------------------
# 0. trading days
# --------------------------------------------------------------------------------------------
def prepare_trading_days(sales_with_store: pd.DataFrame, params: TradingDaysConfig) -> pd.DataFrame:
    """Open days with sales, plus sales per customer and `RelSales` (see module docstring).

    Closed days (Sales == 0 by definition) would drown every average in zeros; open days with
    zero sales are data faults, not behaviour.
    """
    with _timed("prepare_trading_days"):
        df = sales_with_store
        keep = (df["Open"] == 1) & (df["Sales"] >= int(params["min_sales"]))
        if params["drop_outliers"]:
            keep &= ~df["SalesOutlier"]
        out = df.loc[keep, TRADING_COLUMNS].reset_index(drop=True)
        out["SalesPerCustomer"] = out["Sales"] / out["Customers"].where(out["Customers"] > 0)
        cell_mean = out.groupby(["Store", "DayOfWeek", "Promo"])["Sales"].transform("mean")
        out["RelSales"] = out["Sales"] / cell_mean
        logger.info("trading days: %d rows in, %d open days with sales out (%d closed/zero-sales "
                    "rows dropped), %d stores, %s..%s", len(df), len(out), len(df) - len(out),
                    out["Store"].nunique(), out["Date"].min().date(), out["Date"].max().date())
    return out


# --------------------------------------------------------------------------------------------
# 1. promotions in train vs test
# --------------------------------------------------------------------------------------------
def compare_promo_train_test(sales_with_store: pd.DataFrame, test_with_store: pd.DataFrame,
                             params: PromoTrainTestConfig) -> tuple[dict[str, Any], pd.DataFrame,
                                                              pd.DataFrame]:
    """Is the promo calendar of the forecast period like the one the model learns from?

    Compares the share of promo days (all rows, stores present in test) overall, per weekday and
    per store, with a chi-square test (and Cramér's V, because with ~1M rows any difference is
    "significant") and a Kolmogorov-Smirnov test on the per-store shares. Also reports the share
    in the same calendar window of earlier years, since promotions follow a chain-wide calendar.
    """
    with _timed("compare_promo_train_test"):
        test_stores = test_with_store["Store"].unique()
        train = sales_with_store.loc[sales_with_store["Store"].isin(test_stores),
                                     ["Store", "Date", "DayOfWeek", "Promo"]]
        test = test_with_store[["Store", "Date", "DayOfWeek", "Promo"]]

        def chi2(a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
            table = np.array([[a.sum(), len(a) - a.sum()], [b.sum(), len(b) - b.sum()]])
            if (table.sum(axis=0) == 0).any():
                return float("nan"), float("nan"), float("nan")
            chi, p, _, _ = stats.chi2_contingency(table, correction=False)
            return chi, p, math.sqrt(chi / table.sum())

        chi, p, v = chi2(train["Promo"], test["Promo"])
        rows = []
        for dow in range(1, 8):
            a = train.loc[train["DayOfWeek"] == dow, "Promo"]
            b = test.loc[test["DayOfWeek"] == dow, "Promo"]
            _, p_d, _ = chi2(a, b)
            rows.append({"DayOfWeek": dow, "train_promo_share": a.mean(), "test_promo_share": b.mean(),
                         "train_days": len(a), "test_days": len(b), "chi2_p_value": p_d})
        by_weekday = pd.DataFrame(rows)

        per_store = pd.DataFrame({
            "train_promo_share": train.groupby("Store")["Promo"].mean(),
            "test_promo_share": test.groupby("Store")["Promo"].mean(),
        }).reset_index()
        ks = stats.ks_2samp(per_store["train_promo_share"], per_store["test_promo_share"])

        # Same calendar window (month/day of the test period) in each train year.
        lo, hi = test["Date"].min(), test["Date"].max()
        same_window = {}
        for year in sorted(train["Date"].dt.year.unique()):
            a, b = lo.replace(year=int(year)), hi.replace(year=int(year))
            sel = train.loc[train["Date"].between(a, b), "Promo"]
            if len(sel):
                same_window[str(year)] = _num(sel.mean())

        summary = {
            "train_promo_share": _num(train["Promo"].mean()),
            "test_promo_share": _num(test["Promo"].mean()),
            "train_rows": len(train), "test_rows": len(test),
            "test_dates": [str(lo.date()), str(hi.date())],
            "chi2": _num(chi, 2), "chi2_p_value": _num(p, 6), "cramers_v": _num(v),
            "weekday_promo_share_train": {int(r.DayOfWeek): _num(r.train_promo_share)
                                          for r in by_weekday.itertuples()},
            "weekday_promo_share_test": {int(r.DayOfWeek): _num(r.test_promo_share)
                                         for r in by_weekday.itertuples()},
            "store_share_std_train": _num(per_store["train_promo_share"].std()),
            "store_share_std_test": _num(per_store["test_promo_share"].std()),
            "ks_statistic": _num(ks.statistic), "ks_p_value": _num(ks.pvalue, 6),
            "same_window_promo_share_train": same_window,
            "similar": bool(v < params["max_cramers_v_similar"]) if math.isfinite(v) else None,
        }
        logger.info("promo train vs test: share %.3f vs %.3f, chi2 p=%.3g, Cramer's V=%.3f, "
                    "KS p=%.3g over %d stores", summary["train_promo_share"],
                    summary["test_promo_share"], p, v, ks.pvalue, len(per_store))
    return summary, by_weekday, per_store


# --------------------------------------------------------------------------------------------
# 2. holidays
# --------------------------------------------------------------------------------------------
def holiday_effects(trading: pd.DataFrame, sales_with_store: pd.DataFrame,
                    params: HolidaysConfig) -> tuple[dict[str, Any], pd.DataFrame]:
    """Sales in a window of days before, on and after each holiday (per store), by holiday type.

    State holidays a/b/c: events are the store's holiday dates. School holidays: events are the
    first day of each holiday block (before = the days before it starts, after = the days after
    it ends; "during" = all school-holiday trading days).
    """
    with _timed("holiday_effects"):
        w = int(params["window_days"])
        offsets = np.arange(-w, w + 1)
        calendar = sales_with_store[["Store", "Date", "StateHoliday", "SchoolHoliday"]]
        grid = _grid_for(trading, "RelSales", calendar)
        rows_of = lambda s: np.searchsorted(grid.stores, s.to_numpy())  # noqa: E731

        profiles, summary = [], {"window_days": w}
        labels = params["state_holiday_labels"]
        for code, label in labels.items():
            ev = calendar[calendar["StateHoliday"] == code]
            vals = grid.window(rows_of(ev["Store"]), grid.day_index(ev["Date"]), offsets)
            profiles.append(_profile(vals, offsets, label))
            summary[label] = {
                "events": len(ev),
                "open_share_on_day": _num(np.isfinite(vals[:, w]).mean()) if len(ev) else None,
                "before_pct": _pct(_window_mean(vals, offsets, -w, -1)),
                "on_day_pct": _pct(_window_mean(vals, offsets, 0, 0)),
                "after_pct": _pct(_window_mean(vals, offsets, 1, w)),
            }

        # School holiday blocks: starts and ends per store, from the store's calendar rows.
        cal = calendar.sort_values(["Store", "Date"])
        change = cal.groupby("Store")["SchoolHoliday"].diff()
        starts, ends = cal[change == 1], cal[change == -1]   # ends = first day after a block
        v_start = grid.window(rows_of(starts["Store"]), grid.day_index(starts["Date"]), offsets)
        v_end = grid.window(rows_of(ends["Store"]), grid.day_index(ends["Date"]), offsets)
        profiles.append(_profile(v_start, offsets, "school holiday start"))
        profiles.append(_profile(v_end, offsets, "school holiday end"))
        during = trading.loc[trading["SchoolHoliday"] == 1, "RelSales"].mean()
        outside = trading.loc[trading["SchoolHoliday"] == 0, "RelSales"].mean()
        summary["school holiday"] = {
            "events": len(starts),
            "before_pct": _pct(_window_mean(v_start, offsets, -w, -1)),
            "during_pct": _pct(during / outside) if outside else None,
            "after_pct": _pct(_window_mean(v_end, offsets, 0, w - 1)),
        }
        table = pd.concat(profiles, ignore_index=True)
        logger.info("holidays: window +-%d days; %s", w,
                    {k: v for k, v in summary.items() if k != "window_days"})
    return summary, table


# --------------------------------------------------------------------------------------------
# 3. seasonality
# --------------------------------------------------------------------------------------------
def seasonality(trading: pd.DataFrame, params: SeasonalityConfig) -> tuple[
        dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Christmas and Easter effects, month and weekday pattern, trend.

    Christmas: RelSales in the week before Christmas and in the rest of December against November
    of the same year and stores. Easter: Mon-Sat of Holy Week against the weeks before it.
    Weekday pattern: sales relative to the store's mean (RelSales would hide it). Trend: same-store
    growth of (store, month) mean sales from one year to the next.
    """
    with _timed("seasonality"):
        df = trading[["Store", "Date", "DayOfWeek", "StoreType", "Sales", "RelSales"]].copy()
        df["Year"], df["Month"], df["Day"] = df["Date"].dt.year, df["Date"].dt.month, df["Date"].dt.day
        df["SalesIndex"] = df["Sales"] / df.groupby("Store")["Sales"].transform("mean")

        monthly = df.groupby("Month").agg(mean_rel_sales=("RelSales", "mean"),
                                          mean_sales_index=("SalesIndex", "mean"),
                                          mean_sales=("Sales", "mean"), days=("Sales", "size"))
        weekly = (df.groupby(["StoreType", "DayOfWeek"])["SalesIndex"].mean().unstack("StoreType")
                  .add_prefix("type_"))
        weekly["all"] = df.groupby("DayOfWeek")["SalesIndex"].mean()
        weekly["days"] = df.groupby("DayOfWeek").size()

        week_start = df["Date"] - pd.to_timedelta(df["Date"].dt.day_of_week, unit="D")
        trend = (df.assign(Week=week_start).groupby("Week")
                 .agg(mean_sales_index=("SalesIndex", "mean"), mean_sales=("Sales", "mean"),
                      stores=("Store", "nunique")).reset_index())

        # Year-over-year same-store growth on (store, month) cells present in both years.
        cells = df.groupby(["Store", "Year", "Month"])["Sales"].mean()
        growth = {}
        years = sorted(df["Year"].unique())
        for y0, y1 in zip(years[:-1], years[1:], strict=False):
            a = cells.xs(y0, level="Year")
            b = cells.xs(y1, level="Year")
            both = a.index.intersection(b.index)
            if len(both):
                growth[f"{y0}->{y1}"] = _pct(math.exp(np.log(b[both] / a[both]).mean()))

        # Christmas: per year, same stores in November and December.
        d0, d1 = params["christmas_week_days"]
        base_m = int(params["baseline_month"])
        xmas_rows, profile_rows = [], []
        for year in years:
            nov = df[(df["Year"] == year) & (df["Month"] == base_m)]
            dec = df[(df["Year"] == year) & (df["Month"] == 12)]
            stores = np.intersect1d(nov["Store"].unique(), dec["Store"].unique())
            if not len(stores):
                continue
            nov, dec = nov[nov["Store"].isin(stores)], dec[dec["Store"].isin(stores)]
            week = dec["Day"].between(d0, d1)
            base = nov["RelSales"].mean()
            xmas_rows.append({"year": int(year), "stores": len(stores),
                              "christmas_week_ratio": dec.loc[week, "RelSales"].mean() / base,
                              "rest_of_december_ratio": dec.loc[~week, "RelSales"].mean() / base})
            daily = pd.concat([nov, dec]).groupby("Date")["RelSales"].mean() / base
            profile_rows.append(pd.DataFrame({"year": int(year), "date": daily.index,
                                              "rel_to_november": daily.to_numpy()}))
        xmas = pd.DataFrame(xmas_rows)
        christmas_profile = (pd.concat(profile_rows, ignore_index=True) if profile_rows else
                             pd.DataFrame(columns=["year", "date", "rel_to_november"]))

        # Easter: Holy Week (Mon-Sat) vs the preceding weeks, per year.
        hb0, hb1 = params["easter_days_before"]
        bb0, bb1 = params["easter_baseline_days_before"]
        easter_rows = []
        for year in years:
            e = pd.Timestamp(easter(int(year)))
            holy = df[df["Date"].between(e - pd.Timedelta(days=hb0), e - pd.Timedelta(days=hb1))]
            base = df[df["Date"].between(e - pd.Timedelta(days=bb0), e - pd.Timedelta(days=bb1))]
            if len(holy) and len(base):
                easter_rows.append({"year": int(year), "easter": str(e.date()),
                                    "holy_week_ratio": holy["RelSales"].mean() / base["RelSales"].mean()})
        easter_df = pd.DataFrame(easter_rows)

        summary = {
            "christmas_week_days": [d0, d1],
            "christmas_week_uplift_pct": _pct(xmas["christmas_week_ratio"].mean()) if len(xmas) else None,
            "rest_of_december_uplift_pct": _pct(xmas["rest_of_december_ratio"].mean()) if len(xmas) else None,
            "christmas_by_year": {str(r.year): {"christmas_week_pct": _pct(r.christmas_week_ratio),
                                                "rest_of_december_pct": _pct(r.rest_of_december_ratio),
                                                "stores": r.stores} for r in xmas.itertuples()},
            "easter_holy_week_uplift_pct": _pct(easter_df["holy_week_ratio"].mean()) if len(easter_df) else None,
            "easter_by_year": {str(r.year): _pct(r.holy_week_ratio) for r in easter_df.itertuples()},
            "month_index_pct": {int(m): _pct(v) for m, v in monthly["mean_rel_sales"].items()},
            "best_month": int(monthly["mean_rel_sales"].idxmax()),
            "worst_month": int(monthly["mean_rel_sales"].idxmin()),
            "weekday_index_pct": {int(d): _pct(v) for d, v in weekly["all"].items()},
            "best_weekday": int(weekly["all"].idxmax()),
            "yoy_same_store_growth_pct": growth,
            "trend_pct_per_year": _num(np.mean(list(growth.values())), 1) if growth else None,
        }
        logger.info("seasonality: Christmas week %+.1f%%, rest of Dec %+.1f%% vs Nov; Easter week "
                    "%s%%; best month %d; YoY growth %s", summary["christmas_week_uplift_pct"] or 0,
                    summary["rest_of_december_uplift_pct"] or 0,
                    summary["easter_holy_week_uplift_pct"], summary["best_month"], growth)
    return (summary, monthly.reset_index(), weekly.reset_index(), trend, christmas_profile)


# --------------------------------------------------------------------------------------------
# 4. promotions
# --------------------------------------------------------------------------------------------
def promo_effect(trading: pd.DataFrame, params: PromoConfig) -> tuple[
        dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Promo uplift on sales, customers and sales per customer; which stores gain most.

    "Raw" compares all promo with all non-promo days (promos run Mon-Fri only, so this mixes in
    the weekday pattern). "Matched" compares promo and non-promo days of the same store and
    weekday, then averages the log-ratios: the uplift a store can expect from running a promo.
    """
    with _timed("promo_effect"):
        metrics = ["Sales", "Customers", "SalesPerCustomer"]
        raw = trading.groupby("Promo")[metrics].mean()
        raw_uplift = {m: _pct(raw.loc[1, m] / raw.loc[0, m]) if {0, 1} <= set(raw.index) else None
                      for m in metrics}

        cells = trading.groupby(["Store", "DayOfWeek", "Promo"])[metrics].agg(["mean", "size"])
        means = cells.xs("mean", axis=1, level=1).unstack("Promo")
        counts = cells[("Sales", "size")].unstack("Promo")
        min_n = int(params["min_days_per_cell"])
        ok = (counts.get(0, 0) >= min_n) & (counts.get(1, 0) >= min_n)
        logr = pd.DataFrame({m: np.log(means[(m, 1)] / means[(m, 0)]) for m in metrics})[ok]
        per_store = logr.groupby("Store").mean()
        stores = trading.groupby("Store")[["StoreType", "Assortment", "Promo2"]].first()
        per_store = per_store.join(stores)

        def pct_frame(df: pd.DataFrame) -> pd.DataFrame:
            return (np.exp(df[metrics]) - 1) * 100

        by_store = pct_frame(per_store).add_suffix("_uplift_pct").join(stores)
        by_store = by_store.sort_values("Sales_uplift_pct", ascending=False).reset_index()
        by_group = []
        for col in ("StoreType", "Assortment", "Promo2"):
            g = per_store.groupby(col)[metrics].mean()
            g = pct_frame(g).add_suffix("_uplift_pct")
            g["stores"] = per_store.groupby(col).size()
            by_group.append(g.reset_index().rename(columns={col: "group"}).assign(factor=col))
        by_group = pd.concat(by_group, ignore_index=True)[
            ["factor", "group", "stores"] + [f"{m}_uplift_pct" for m in metrics]]
        by_group["group"] = by_group["group"].astype(str)

        overall = pct_frame(per_store[metrics].mean().to_frame().T).iloc[0]
        top_n = int(params["top_n_stores"])
        types = by_group[by_group["factor"] == "StoreType"].set_index("group")
        summary = {
            "raw_uplift_pct": raw_uplift,
            "matched_uplift_pct": {m: _num(overall[m], 1) for m in metrics},
            "stores_measured": len(per_store),
            "by_store_type_sales_uplift_pct": {k: _num(v, 1) for k, v in types["Sales_uplift_pct"].items()},
            "best_store_type": str(types["Sales_uplift_pct"].idxmax()) if len(types) else None,
            "top_stores": by_store["Store"].head(top_n).astype(int).tolist(),
            "top_stores_sales_uplift_pct": _num(by_store["Sales_uplift_pct"].head(top_n).mean(), 1),
            "bottom_stores_sales_uplift_pct": _num(by_store["Sales_uplift_pct"].tail(top_n).mean(), 1),
            "stores_uplift_quartiles_pct": [_num(q, 1) for q in
                                            by_store["Sales_uplift_pct"].quantile([.25, .5, .75])],
        }
        logger.info("promo effect: raw %s, matched %s over %d stores; by type %s",
                    raw_uplift, summary["matched_uplift_pct"], len(per_store),
                    summary["by_store_type_sales_uplift_pct"])
    return summary, by_group, by_store


# --------------------------------------------------------------------------------------------
# 5. store opening and closing
# --------------------------------------------------------------------------------------------
def store_closures(trading: pd.DataFrame, sales_with_store: pd.DataFrame,
                   params: ClosuresConfig) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame,
                                                    pd.DataFrame]:
    """Sales around long closures (refurbishments, missing periods) and weekend trading.

    A closure is a run of at least `min_closed_days` calendar days on which a store has no row or
    is closed, not touching the ends of the data. Stores opening on at least
    `all_week_min_sunday_share` of Sundays count as "open all week".
    """
    with _timed("store_closures"):
        calendar = sales_with_store[["Store", "Date", "Open", "DayOfWeek"]]
        open_grid = _grid_for(calendar, "Open", calendar)
        rel = _grid_for(trading, "RelSales", calendar)
        closed = np.nan_to_num(open_grid.values, nan=0.0) < 1        # no row or Open == 0
        missing = np.isnan(open_grid.values)
        padded = np.pad(closed.astype(np.int8), ((0, 0), (1, 1)))
        edges = np.diff(padded, axis=1)
        s_row, s_col = np.nonzero(edges == 1)          # row-major: starts and ends pair up
        e_row, e_col = np.nonzero(edges == -1)
        length = e_col - s_col
        n_days = open_grid.n_days
        keep = (length >= int(params["min_closed_days"])) & (s_col > 0) & (e_col < n_days)
        s_row, s_col, e_col, length = s_row[keep], s_col[keep], e_col[keep], length[keep]
        gap_share = np.array([missing[r, a:b].mean() for r, a, b in zip(s_row, s_col, e_col, strict=False)])

        w = int(params["window_days"])
        before_off, after_off = np.arange(-w, 0), np.arange(0, w)
        v_before = rel.window(s_row, s_col, before_off)
        v_after = rel.window(s_row, e_col, after_off)
        profile = pd.concat([
            _profile(v_before, before_off, "before closing").assign(offset_days=before_off),
            _profile(v_after, after_off + 1, "after reopening"),
        ], ignore_index=True)
        closures = pd.DataFrame({
            "Store": open_grid.stores[s_row],
            "closed_from": open_grid.first + pd.to_timedelta(s_col, unit="D"),
            "reopened": open_grid.first + pd.to_timedelta(e_col, unit="D"),
            "days": length, "missing_rows_share": gap_share,
            "rel_sales_before": _nanmean(v_before, axis=1) if len(s_row) else [],
            "rel_sales_after": _nanmean(v_after, axis=1) if len(s_row) else [],
        }) if len(s_row) else pd.DataFrame(columns=["Store", "closed_from", "reopened", "days",
                                                    "missing_rows_share", "rel_sales_before",
                                                    "rel_sales_after"])

        # Weekend trading: stores open on Sundays vs the rest.
        sundays = calendar[calendar["DayOfWeek"] == 7]
        sunday_share = sundays.groupby("Store")["Open"].mean()
        all_week = set(sunday_share.index[sunday_share >= float(params["all_week_min_sunday_share"])])
        df = trading[["Store", "DayOfWeek", "Sales", "StoreType"]].copy()
        df["group"] = np.where(df["Store"].isin(all_week), "open all week", "closed on Sundays")
        df["SalesIndex"] = df["Sales"] / df.groupby("Store")["Sales"].transform("mean")
        weekday = (df.groupby(["group", "DayOfWeek"])
                   .agg(mean_sales=("Sales", "mean"), sales_index=("SalesIndex", "mean"),
                        days=("Sales", "size")).reset_index())
        wk = df[df["DayOfWeek"] <= 5].groupby("group")["Sales"].mean()
        sat = df[df["DayOfWeek"] == 6].groupby("group")["Sales"].mean()
        sun = df[df["DayOfWeek"] == 7].groupby("group")["Sales"].mean()
        aw = "open all week"
        types = trading[trading["Store"].isin(all_week)].groupby("StoreType")["Store"].nunique()
        summary = {
            "closures": len(closures), "min_closed_days": int(params["min_closed_days"]),
            "stores_with_closure": int(closures["Store"].nunique()) if len(closures) else 0,
            "median_closure_days": _num(np.median(length), 1) if len(length) else None,
            "closures_that_are_missing_rows": int((gap_share > 0.5).sum()),
            "window_days": w,
            "before_closing_pct": _pct(_nanmean(v_before)) if len(s_row) else None,
            "after_reopening_pct": _pct(_nanmean(v_after)) if len(s_row) else None,
            "first_week_after_reopening_pct": _pct(_nanmean(v_after[:, :7])) if len(s_row) else None,
            "stores_open_all_week": len(all_week),
            "all_week_store_types": {str(k): int(v) for k, v in types.items()},
            "all_week_sunday_vs_weekday_pct": _pct(sun.get(aw, np.nan) / wk.get(aw, np.nan)),
            "all_week_saturday_vs_weekday_pct": _pct(sat.get(aw, np.nan) / wk.get(aw, np.nan)),
            "others_saturday_vs_weekday_pct": _pct(sat.get("closed on Sundays", np.nan)
                                                   / wk.get("closed on Sundays", np.nan)),
            "all_week_vs_others_mean_sales_pct": _pct(df.loc[df["group"] == aw, "Sales"].mean()
                                                      / df.loc[df["group"] != aw, "Sales"].mean()),
        }
        logger.info("closures: %d runs of >= %d closed days in %d stores (%d are missing rows); "
                    "sales %s%% before closing, %s%% after reopening; %d stores open all week",
                    summary["closures"], int(params["min_closed_days"]),
                    summary["stores_with_closure"], summary["closures_that_are_missing_rows"],
                    summary["before_closing_pct"], summary["after_reopening_pct"], len(all_week))
    return summary, profile, closures, weekday


# --------------------------------------------------------------------------------------------
# 6. customers vs sales
# --------------------------------------------------------------------------------------------
def customers_vs_sales(trading: pd.DataFrame, params: CustomersSalesConfig) -> tuple[
        dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Correlation of customers and sales per store type, and a binned 2-D histogram to plot.

    Rank correlations use a seeded sample (`sample_size`) to stay fast on 1M rows; the histogram
    uses every row but only keeps bin counts.
    """
    with _timed("customers_vs_sales"):
        n = min(int(params["sample_size"]), len(trading))
        sample = trading.sample(n=n, random_state=int(params["seed"]))
        rows = []
        groups = [("all", trading, sample)] + [
            (t, g, sample[sample["StoreType"] == t]) for t, g in trading.groupby("StoreType")]
        for name, g, s in groups:
            slope, intercept = np.polyfit(g["Customers"], g["Sales"], 1) if len(g) > 1 else (np.nan,) * 2
            rows.append({
                "StoreType": name, "days": len(g),
                "pearson": g["Customers"].corr(g["Sales"]),
                "spearman_sample": stats.spearmanr(s["Customers"], s["Sales"]).statistic
                if len(s) > 2 else np.nan,
                "sales_per_extra_customer": slope, "intercept": intercept,
                "mean_sales_per_customer": g["SalesPerCustomer"].mean(),
            })
        table = pd.DataFrame(rows)

        bins = int(params["hist_bins"])
        cx = np.linspace(0, trading["Customers"].quantile(0.999), bins + 1)
        sx = np.linspace(0, trading["Sales"].quantile(0.999), bins + 1)
        hist = []
        for t, g in trading.groupby("StoreType"):
            h, _, _ = np.histogram2d(g["Customers"], g["Sales"], bins=[cx, sx])
            i, j = np.nonzero(h)
            hist.append(pd.DataFrame({"StoreType": t, "customers_lo": cx[i], "customers_hi": cx[i + 1],
                                      "sales_lo": sx[j], "sales_hi": sx[j + 1], "count": h[i, j]}))
        hist = pd.concat(hist, ignore_index=True)
        t = table.set_index("StoreType")
        summary = {
            "pearson_all": _num(t.loc["all", "pearson"]),
            "pearson_by_type": {k: _num(v) for k, v in t["pearson"].drop("all").items()},
            "spearman_by_type": {k: _num(v) for k, v in t["spearman_sample"].drop("all").items()},
            "sales_per_customer_by_type": {k: _num(v, 2) for k, v in
                                           t["mean_sales_per_customer"].drop("all").items()},
            "weakest_type": str(t["pearson"].drop("all").idxmin()),
            "sample_size": n,
        }
        logger.info("customers vs sales: Pearson %.3f overall, by type %s (Spearman on %d-row "
                    "sample)", summary["pearson_all"], summary["pearson_by_type"], n)
    return summary, table, hist


# --------------------------------------------------------------------------------------------
# 7. assortment
# --------------------------------------------------------------------------------------------
def assortment_effect(trading: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Sales, customers and basket size by assortment, compared across stores.

    Each store counts once (its mean per trading day), so a few big stores don't decide; a
    Kruskal-Wallis test says whether the assortment groups differ at all, and the same numbers per
    store type show whether it is the assortment or the store type that matters.
    """
    with _timed("assortment_effect"):
        metrics = ["Sales", "Customers", "SalesPerCustomer"]
        per_store = trading.groupby("Store").agg(
            Sales=("Sales", "mean"), Customers=("Customers", "mean"),
            SalesPerCustomer=("SalesPerCustomer", "mean"), Assortment=("Assortment", "first"),
            StoreType=("StoreType", "first"))
        parts = []
        for keys in (["Assortment"], ["StoreType", "Assortment"]):
            g = per_store.groupby(keys)[metrics].agg(["mean", "sem"])
            g.columns = [f"{m}_{s}" for m, s in g.columns]
            g["stores"] = per_store.groupby(keys).size()
            g = g.reset_index()
            if "StoreType" not in g:
                g.insert(0, "StoreType", "all")
            parts.append(g)
        table = pd.concat(parts, ignore_index=True)
        groups = [g["Sales"].to_numpy() for _, g in per_store.groupby("Assortment")]
        kw = stats.kruskal(*groups) if len(groups) > 1 else None
        overall = table[table["StoreType"] == "all"].set_index("Assortment")
        ref = overall.loc["a"] if "a" in overall.index else overall.iloc[0]
        summary = {
            "stores_by_assortment": {k: int(v) for k, v in overall["stores"].items()},
            "mean_sales_by_assortment": {k: _num(v, 1) for k, v in overall["Sales_mean"].items()},
            "mean_customers_by_assortment": {k: _num(v, 1) for k, v in overall["Customers_mean"].items()},
            "sales_per_customer_by_assortment": {k: _num(v, 2) for k, v in
                                                 overall["SalesPerCustomer_mean"].items()},
            "sales_vs_basic_pct": {k: _pct(v / ref["Sales_mean"]) for k, v in overall["Sales_mean"].items()},
            "customers_vs_basic_pct": {k: _pct(v / ref["Customers_mean"])
                                       for k, v in overall["Customers_mean"].items()},
            "kruskal_p_value": _num(kw.pvalue, 6) if kw else None,
        }
        logger.info("assortment: mean sales %s, customers %s, Kruskal-Wallis p=%s",
                    summary["mean_sales_by_assortment"], summary["mean_customers_by_assortment"],
                    summary["kruskal_p_value"])
    return summary, table


# --------------------------------------------------------------------------------------------
# 8. competition
# --------------------------------------------------------------------------------------------
def competition_effect(trading: pd.DataFrame, stores_clean: pd.DataFrame,
                       params: CompetitionConfig) -> tuple[dict[str, Any], pd.DataFrame,
                                                        pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Distance to the nearest competitor vs sales, and the effect of a competitor opening.

    Distance: across stores (one point per store). City centres: we have no coordinates, so stores
    whose competitor is closer than `city_centre_max_distance_m` stand in for dense centres; the
    question is whether distance still correlates with sales among them.
    Openings: for stores whose competitor opened inside the data, RelSales divided by the chain's
    mean RelSales of the same day (removes season and calendar), `window_days` before vs after.
    """
    with _timed("competition_effect"):
        per_store = trading.groupby("Store").agg(
            mean_sales=("Sales", "mean"), mean_customers=("Customers", "mean"),
            StoreType=("StoreType", "first"), CompetitionDistance=("CompetitionDistance", "first"),
            missing=("CompetitionDistanceMissing", "first")).reset_index()
        known = per_store[~per_store["missing"]].copy()
        edges = [float(e) for e in params["distance_bins_m"]]
        known["distance_bin"] = pd.cut(known["CompetitionDistance"], edges, right=False)
        dist_table = (known.groupby("distance_bin", observed=True)
                      .agg(stores=("Store", "size"), mean_sales=("mean_sales", "mean"),
                           median_sales=("mean_sales", "median"),
                           mean_customers=("mean_customers", "mean")).reset_index())
        dist_table["distance_bin"] = dist_table["distance_bin"].astype(str)
        rho = stats.spearmanr(known["CompetitionDistance"], known["mean_sales"])
        cut = float(params["city_centre_max_distance_m"])
        near, far = known[known["CompetitionDistance"] < cut], known[known["CompetitionDistance"] >= cut]
        rho_near = stats.spearmanr(near["CompetitionDistance"], near["mean_sales"]) if len(near) > 2 else None
        rho_far = stats.spearmanr(far["CompetitionDistance"], far["mean_sales"]) if len(far) > 2 else None

        # Competitor openings inside the data window.
        w = int(params["window_days"])
        grid = _grid_for(trading, "RelSales", trading)
        day_mean = _nanmean(grid.values, axis=0)
        norm = grid.values / day_mean[None, :]
        sc = stores_clean[stores_clean["CompetitionOpenSinceYear"] > 0]
        opened = pd.to_datetime(dict(year=sc["CompetitionOpenSinceYear"],
                                     month=sc["CompetitionOpenSinceMonth"].clip(1, 12), day=1))
        col = grid.day_index(opened)
        inside = (col - w >= 0) & (col + w <= grid.n_days) & np.isin(sc["Store"], grid.stores)
        o_store, o_col, o_date = sc["Store"].to_numpy()[inside], col[inside], opened.to_numpy()[inside]
        rows = np.searchsorted(grid.stores, o_store)
        offsets = np.arange(-w, w)
        vals = np.full((len(rows), len(offsets)), np.nan)
        c = o_col[:, None] + offsets[None, :]
        if len(rows):
            vals = norm[np.broadcast_to(rows[:, None], c.shape), c]
        before = _nanmean(np.where(offsets < 0, vals, np.nan), axis=1) if len(rows) else np.array([])
        after = _nanmean(np.where(offsets >= 0, vals, np.nan), axis=1) if len(rows) else np.array([])
        ratio = after / before
        openings = pd.DataFrame({"Store": o_store, "competitor_opened": o_date,
                                 "rel_sales_before": before, "rel_sales_after": after,
                                 "change_pct": (ratio - 1) * 100}).dropna()
        week = np.floor_divide(offsets, 7)
        profile = (pd.DataFrame(vals, columns=offsets).T.assign(week=week).groupby("week").mean()
                   .mean(axis=1).rename("rel_sales").reset_index()) if len(rows) else \
            pd.DataFrame(columns=["week", "rel_sales"])
        profile = profile.rename(columns={"week": "weeks_from_opening"})
        log_ratio = np.log(openings["rel_sales_after"] / openings["rel_sales_before"])
        summary = {
            "stores_with_known_distance": len(known),
            "spearman_distance_sales": _num(rho.statistic), "spearman_p_value": _num(rho.pvalue, 6),
            "city_centre_max_distance_m": cut,
            "near_stores": len(near), "far_stores": len(far),
            "spearman_near": _num(rho_near.statistic) if rho_near else None,
            "spearman_near_p_value": _num(rho_near.pvalue, 6) if rho_near else None,
            "spearman_far": _num(rho_far.statistic) if rho_far else None,
            "spearman_far_p_value": _num(rho_far.pvalue, 6) if rho_far else None,
            "near_vs_far_mean_sales_pct": _pct(near["mean_sales"].mean() / far["mean_sales"].mean())
            if len(near) and len(far) else None,
            "window_days": w,
            "stores_with_opening": len(openings),
            "opening_effect_pct": _pct(math.exp(log_ratio.mean())) if len(openings) else None,
            "opening_effect_median_pct": _num(openings["change_pct"].median(), 1) if len(openings) else None,
            "share_of_stores_losing": _num((openings["change_pct"] < 0).mean(), 3) if len(openings) else None,
            "opening_t_test_p_value": _num(stats.ttest_1samp(log_ratio, 0.0).pvalue, 6)
            if len(openings) > 2 else None,
        }
        logger.info("competition: Spearman(distance, sales)=%s (near %s, far %s); %d competitor "
                    "openings: %s%% sales after vs before", summary["spearman_distance_sales"],
                    summary["spearman_near"], summary["spearman_far"], len(openings),
                    summary["opening_effect_pct"])
    return summary, dist_table, per_store.drop(columns="missing"), openings, profile


# --------------------------------------------------------------------------------------------
# 9. correlation matrix
# --------------------------------------------------------------------------------------------
def correlation_matrix(trading: pd.DataFrame, params: CorrelationConfig) -> tuple[
        dict[str, Any], pd.DataFrame]:
    """Pairwise correlation of the numeric variables (and 0/1 flags) on trading days."""
    with _timed("correlation_matrix"):
        df = pd.DataFrame({
            "Sales": trading["Sales"], "Customers": trading["Customers"],
            "SalesPerCustomer": trading["SalesPerCustomer"], "Promo": trading["Promo"],
            "Promo2": trading["Promo2"], "SchoolHoliday": trading["SchoolHoliday"],
            "StateHoliday": (trading["StateHoliday"] != "0").astype(int),
            "DayOfWeek": trading["DayOfWeek"], "Month": trading["Date"].dt.month,
            "Year": trading["Date"].dt.year,
            "LogCompetitionDistance": np.log1p(trading["CompetitionDistance"]),
        })
        corr = df.corr(method=params["method"])
        with_sales = corr["Sales"].drop("Sales")
        order = with_sales.abs().sort_values(ascending=False)
        summary = {"method": params["method"],
                   "correlation_with_sales": {k: _num(with_sales[k], 3) for k in order.index},
                   "customers_sales": _num(corr.loc["Customers", "Sales"], 3)}
        logger.info("correlation (%s) with Sales: %s", params["method"],
                    summary["correlation_with_sales"])
    return summary, corr.reset_index(names="variable")


# --------------------------------------------------------------------------------------------
# 10. distributions
# --------------------------------------------------------------------------------------------
def sales_distributions(trading: pd.DataFrame, params: DistributionsConfig) -> tuple[
        dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Quantiles of daily sales per level of each factor (box-plot statistics) and a histogram.

    Plots draw these statistics, never the million points.
    """
    with _timed("sales_distributions"):
        qs = [0.05, 0.25, 0.5, 0.75, 0.95]
        parts = []
        for factor in params["factors"]:
            g = trading.groupby(factor)["Sales"]
            q = g.quantile(qs).unstack()
            q.columns = ["p5", "q1", "median", "q3", "p95"]
            q["mean"], q["std"], q["days"] = g.mean(), g.std(), g.size()
            parts.append(q.reset_index(names="level").assign(factor=factor))
        table = pd.concat(parts, ignore_index=True)
        table["level"] = table["level"].astype(str)
        table = table[["factor", "level", "days", "mean", "std", "p5", "q1", "median", "q3", "p95"]]
        counts, edges = np.histogram(trading["Sales"], bins=int(params["hist_bins"]),
                                     range=(0, float(trading["Sales"].quantile(0.999))))
        hist = pd.DataFrame({"sales_lo": edges[:-1], "sales_hi": edges[1:], "days": counts})
        summary = {
            "trading_days": len(trading), "stores": int(trading["Store"].nunique()),
            "first_date": str(trading["Date"].min().date()),
            "last_date": str(trading["Date"].max().date()),
            "median_sales": _num(trading["Sales"].median(), 1),
            "mean_sales": _num(trading["Sales"].mean(), 1),
            "skewness": _num(stats.skew(trading["Sales"]), 3),
            "median_by_factor": {
                f: {str(r.level): _num(r.median, 1) for r in table[table["factor"] == f].itertuples()}
                for f in params["factors"]},
        }
        logger.info("distributions: median %.0f, mean %.0f, skew %.2f over %d days; factors %s",
                    summary["median_sales"], summary["mean_sales"], summary["skewness"],
                    len(trading), params["factors"])
    return summary, table, hist
