"""Time-series helpers for the sequence model: the dense (store x day) grid, sliding windows with
the known covariates of the days ahead, the (-1, 1) scaler, stationarity tests and ACF/PACF.

Everything works on integer day numbers (days since 1970-01-01, as in `features.calendar`) and
on dense arrays, so that building ~100k training windows is a handful of fancy-indexing calls.

Supervised format (why it looks like this): a sample is (store, anchor day t). Its input is the
window of the `window` days t-window+1..t; its targets are up to `k` days t+h, 1 <= h <= horizon,
each with its own known covariates (promo, holidays, calendar) and its lead time h. Inputs never
reach past t and targets never reach back to t or before, so a window cannot see its own targets.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rossmann_kedro.features import calendar as cal

if TYPE_CHECKING:
    from sklearn.preprocessing import MinMaxScaler

logger = logging.getLogger(__name__)

#: Channels of a history window, in order (see `window_tensor`).
WINDOW_FEATURES: tuple[str, ...] = (
    "log_sales_dev",   # scaled log1p(Sales) - window level, 0 on days without a valid sale
    "valid",           # 1 when the day has an open, non-outlier sale > 0
    "open", "promo", "state_holiday", "school_holiday",
    "dow_sin", "dow_cos",
)


# --------------------------------------------------------------------------------------------
# (-1, 1) scaling
# --------------------------------------------------------------------------------------------
def fit_minmax(values: np.ndarray, robust_quantile: float = 0.0) -> MinMaxScaler:
    """A sklearn MinMaxScaler to (-1, 1) fitted on `values` (n,) or (n, c).

    With `robust_quantile` > 0 the range is that of the values clipped to the
    [q, 1 - q] quantiles, so a few extreme days (reopenings, data glitches) do not squash
    everybody else into a sliver of the range. The transform stays linear, so the inverse is exact
    for every value, inside the range or not.
    """
    from sklearn.preprocessing import MinMaxScaler

    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    if len(x) == 0:
        raise ValueError("cannot fit a scaler on no values")
    if robust_quantile > 0:
        lo = np.quantile(x, robust_quantile, axis=0)
        hi = np.quantile(x, 1 - robust_quantile, axis=0)
        x = np.clip(x, lo, hi)
    return MinMaxScaler(feature_range=(-1, 1)).fit(x)


def scaler_arrays(scaler: MinMaxScaler) -> tuple[np.ndarray, np.ndarray]:
    """(scale_, min_) so that transform(x) = x * scale_ + min_ (sklearn's own formula); applying
    it with numpy avoids sklearn's per-call validation overhead on the serving path."""
    return scaler.scale_.astype(np.float64), scaler.min_.astype(np.float64)


# --------------------------------------------------------------------------------------------
# The dense (store x day) grid
# --------------------------------------------------------------------------------------------
@dataclass
class SeriesGrid:
    """Daily history of every store on one calendar: arrays (n_stores, n_days)."""

    store_ids: np.ndarray    # sorted int64
    start_day: int           # day number of column 0
    log_sales: np.ndarray    # float64 log1p(Sales) on valid days, NaN elsewhere
    valid: np.ndarray        # bool: observed, open, Sales > 0, not a flagged outlier
    observed: np.ndarray     # bool: the train file has a row
    open: np.ndarray         # float32 0/1
    promo: np.ndarray        # float32 0/1
    state_holiday: np.ndarray  # float32 0/1 (any of a, b, c)
    school_holiday: np.ndarray  # float32 0/1

    @property
    def n_days(self) -> int:
        return self.log_sales.shape[1]

    @property
    def end_day(self) -> int:
        return self.start_day + self.n_days - 1

    def day_index(self, date: str | pd.Timestamp) -> int:
        return int(cal.to_day_numbers(pd.Series([pd.Timestamp(date)]))[0]) - self.start_day

    def date_of(self, index: int) -> pd.Timestamp:
        return pd.Timestamp(np.datetime64(self.start_day + int(index), "D"))

    def store_index(self, stores: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.store_ids, np.asarray(stores, dtype=np.int64))


def build_grid(sales: pd.DataFrame, end: str | pd.Timestamp | None = None) -> SeriesGrid:
    """Scatter sales_clean-format rows onto a dense grid from their first date to `end`
    (default: their last date). Rows after `end` are ignored; missing days (the refurbishment
    gap, stores that closed down) stay unobserved."""
    days = cal.to_day_numbers(sales["Date"])
    end_day = int(days.max()) if end is None else int(cal.to_day_numbers(
        pd.Series([pd.Timestamp(end)]))[0])
    keep = days <= end_day
    rows, days = sales.loc[keep], days[keep]
    start_day = int(days.min())
    store_ids = np.unique(rows["Store"].to_numpy(np.int64))
    si = np.searchsorted(store_ids, rows["Store"].to_numpy(np.int64))
    di = days - start_day
    shape = (len(store_ids), end_day - start_day + 1)

    def scatter(values: np.ndarray, fill, dtype) -> np.ndarray:
        out = np.full(shape, fill, dtype=dtype)
        out[si, di] = values
        return out

    sales_v = rows["Sales"].to_numpy(np.float64)
    open_v = rows["Open"].to_numpy(np.int64)
    outlier = rows["SalesOutlier"].to_numpy(bool) if "SalesOutlier" in rows else np.zeros(len(rows), bool)
    valid_v = (open_v == 1) & (sales_v > 0) & ~outlier
    return SeriesGrid(
        store_ids=store_ids, start_day=start_day,
        log_sales=scatter(np.where(valid_v, np.log1p(np.maximum(sales_v, 0)), np.nan), np.nan, np.float64),
        valid=scatter(valid_v, False, bool),
        observed=scatter(np.ones(len(rows), bool), False, bool),
        open=scatter(open_v, 0, np.float32),
        promo=scatter(rows["Promo"].to_numpy(np.float32), 0, np.float32),
        state_holiday=scatter((rows["StateHoliday"].astype(str).to_numpy() != "0"), 0, np.float32),
        school_holiday=scatter(rows["SchoolHoliday"].to_numpy(np.float32), 0, np.float32),
    )


def store_levels(grid: SeriesGrid, last_index: int) -> np.ndarray:
    """Each store's mean log1p(Sales) over its valid days up to `last_index`; the chain mean for
    stores with none."""
    ls = grid.log_sales[:, : last_index + 1]
    cnt = np.sum(~np.isnan(ls), axis=1)
    total = np.nansum(ls, axis=1)
    chain = float(np.nansum(total) / max(cnt.sum(), 1))
    return np.where(cnt > 0, total / np.maximum(cnt, 1), chain)


@dataclass(frozen=True)
class FallbackLevels:
    """The level of a window that holds too few of a store's days (a store closed for
    refurbishment, or without rows): its long-run level with the chain's day effects removed,
    moved by the chain's mean day effect over that window. A data gap is not a level: the plain
    long-run mean would give a store back from a half-year gap in December a spring-and-summer
    level where every other store has December's (the same rule as the tree's recent levels,
    `features.context`)."""

    base: np.ndarray          # (n_stores,) long-run level, day effects removed
    effect_sum: np.ndarray    # (n_days,) the chain's summed deviations from the stores' levels
    effect_count: np.ndarray  # (n_days,) how many store-days they sum

    @classmethod
    def fit(cls, grid: SeriesGrid, last_index: int) -> FallbackLevels:
        """From the valid days up to `last_index` only."""
        ls = grid.log_sales[:, : last_index + 1]
        dev = ls - store_levels(grid, last_index)[:, None]
        count = np.sum(~np.isnan(dev), axis=0)
        total = np.nansum(dev, axis=0)
        day_effect = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        adjusted = ls - day_effect[None, :]
        n = np.sum(~np.isnan(adjusted), axis=1)
        chain = float(np.nansum(adjusted) / max(n.sum(), 1))
        base = np.where(n > 0, np.nansum(adjusted, axis=1) / np.maximum(n, 1), chain)
        pad = grid.n_days - (last_index + 1)
        return cls(base=base, effect_sum=np.pad(total, (0, pad)),
                   effect_count=np.pad(count, (0, pad)))

    def at(self, store_idx: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Fallback level of each store for its window of day indices `idx` (n, window)."""
        total = self.effect_sum[idx].sum(axis=1)
        count = self.effect_count[idx].sum(axis=1)
        return self.base[store_idx] + np.where(count > 0, total / np.maximum(count, 1), 0.0)


# --------------------------------------------------------------------------------------------
# Windows and supervised samples
# --------------------------------------------------------------------------------------------
def window_indices(anchors: np.ndarray, window: int) -> np.ndarray:
    """(n, window) day indices anchor-window+1 .. anchor (inclusive)."""
    return np.asarray(anchors)[:, None] + np.arange(-window + 1, 1)[None, :]


def window_levels(
    grid: SeriesGrid, store_idx: np.ndarray, anchors: np.ndarray, window: int,
    fallback: FallbackLevels, min_valid: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(level, n_valid): mean log1p(Sales) over the window's valid days, or the `fallback`
    level for this store and window when fewer than `min_valid` days are valid. Removing this
    local level is the model's de-trending step (a differencing against the recent mean, see
    the README)."""
    idx = window_indices(anchors, window)
    ls = grid.log_sales[store_idx[:, None], idx]
    n_valid = np.sum(~np.isnan(ls), axis=1)
    with np.errstate(invalid="ignore"):
        level = np.nansum(ls, axis=1) / np.maximum(n_valid, 1)
    level = np.where(n_valid >= min_valid, level, fallback.at(store_idx, idx))
    return level, n_valid


def window_tensor(
    grid: SeriesGrid, store_idx: np.ndarray, anchors: np.ndarray, window: int,
    level: np.ndarray, target_scale: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """(n, window, len(WINDOW_FEATURES)) float32 model input for windows ending at `anchors`."""
    if np.any(anchors - window + 1 < 0) or np.any(anchors >= grid.n_days):
        raise ValueError("a window reaches outside the grid")
    idx = window_indices(anchors, window)
    s = store_idx[:, None]
    ls = grid.log_sales[s, idx]
    scale, mn = target_scale
    dev = np.where(np.isnan(ls), 0.0, (ls - level[:, None]) * scale[0] + mn[0])
    dow = cal.weekday_of(grid.start_day + idx)
    ang = 2 * np.pi * (dow - 1) / 7
    chans = [dev, ~np.isnan(ls), grid.open[s, idx], grid.promo[s, idx],
             grid.state_holiday[s, idx], grid.school_holiday[s, idx], np.sin(ang), np.cos(ang)]
    return np.stack(chans, axis=-1).astype(np.float32)


@dataclass
class Samples:
    """Supervised samples: windows ending at `anchor`, up to k targets each."""

    store_idx: np.ndarray    # (n,) row of the grid
    anchor: np.ndarray       # (n,) day index of the window's last day
    target: np.ndarray       # (n, k) day index of each target (anchor + 1 where padded)
    weight: np.ndarray       # (n, k) 1.0 for a real target, 0.0 for padding

    def __len__(self) -> int:
        return len(self.anchor)


def supervised_samples(
    grid: SeriesGrid, window: int, horizon: int, first_anchor: int, last_anchor: int,
    target_lo: int, target_hi: int, stride: int, k: int, min_valid: int,
    rng: np.random.Generator, store_idx: np.ndarray | None = None,
    prefer_holidays: bool = False,
) -> Samples:
    """Anchors every `stride` days per store (random phase per store, so every weekday is an
    anchor somewhere) in [first_anchor, last_anchor]; for each, up to `k` valid target days drawn
    at random among t+1..t+horizon that fall in [target_lo, target_hi].

    Windows with fewer than `min_valid` valid days and anchors without any target are dropped.
    With `prefer_holidays`, valid state-holiday days in range are always among the drawn targets.
    """
    stores = np.arange(len(grid.store_ids)) if store_idx is None else np.asarray(store_idx)
    first_anchor = max(first_anchor, window - 1)
    last_anchor = min(last_anchor, grid.n_days - 1, target_hi - 1)
    if last_anchor < first_anchor:
        raise ValueError(f"no anchor fits in [{first_anchor}, {last_anchor}] with window {window}")
    phase = rng.integers(0, stride, size=len(stores))
    s_list, a_list = [], []
    for j, s in enumerate(stores):
        a = np.arange(first_anchor + phase[j], last_anchor + 1, stride)
        s_list.append(np.full(len(a), s))
        a_list.append(a)
    s_arr = np.concatenate(s_list).astype(np.int64)
    a_arr = np.concatenate(a_list).astype(np.int64)
    # windows with enough valid days
    valid_cum = np.concatenate([np.zeros((len(grid.store_ids), 1), np.int64),
                                np.cumsum(grid.valid, axis=1)], axis=1)
    n_valid = valid_cum[s_arr, a_arr + 1] - valid_cum[s_arr, a_arr + 1 - window]
    keep = n_valid >= min_valid
    s_arr, a_arr = s_arr[keep], a_arr[keep]
    # candidate targets t+1..t+horizon inside [target_lo, target_hi] and valid
    cand = a_arr[:, None] + np.arange(1, horizon + 1)[None, :]
    ok = (cand >= target_lo) & (cand <= target_hi) & (cand < grid.n_days)
    ok[ok] = grid.valid[np.broadcast_to(s_arr[:, None], cand.shape)[ok], cand[ok]]
    keys = np.where(ok, rng.random(cand.shape), np.inf)
    if prefer_holidays:
        # open state-holiday days are rare (~0.1% of targets) but drive RMSPE: always draw them
        hol = np.zeros(cand.shape, bool)
        hol[ok] = grid.state_holiday[np.broadcast_to(s_arr[:, None], cand.shape)[ok], cand[ok]] > 0
        keys = np.where(hol, keys - 1.0, keys)
    k = min(k, horizon)
    pick = np.argsort(keys, axis=1)[:, :k]
    chosen = np.take_along_axis(cand, pick, axis=1)
    weight = np.take_along_axis(ok, pick, axis=1).astype(np.float32)
    has = weight.sum(axis=1) > 0
    target = np.where(weight > 0, chosen, a_arr[:, None] + 1)
    return Samples(store_idx=s_arr[has], anchor=a_arr[has], target=target[has],
                   weight=weight[has])


# --------------------------------------------------------------------------------------------
# Stationarity and autocorrelation
# --------------------------------------------------------------------------------------------
def aggregate_series(sales: pd.DataFrame) -> pd.Series:
    """Chain-level daily series: log1p of mean Sales per store that has a row that day (so the
    refurbishment gap, when ~16% of stores have no rows, does not show as a level shift)."""
    daily = sales.groupby("Date")["Sales"].mean()
    daily.index = pd.DatetimeIndex(daily.index)
    return np.log1p(daily.asfreq("D"))


def store_series(grid: SeriesGrid, store: int) -> pd.Series:
    """One store's daily log1p(Sales) on the calendar, NaN on closed / missing / outlier days."""
    i = int(grid.store_index(np.array([store]))[0])
    idx = pd.date_range(grid.date_of(0), periods=grid.n_days, freq="D")
    return pd.Series(grid.log_sales[i], index=idx, name=f"store_{store}")


def transforms(series: pd.Series, level_window: int) -> dict[str, pd.Series]:
    """The candidate stationarising transforms, on the calendar (differences of a day with a
    missing neighbour are dropped, not bridged):

    * ``log``: log1p(Sales) itself;
    * ``diff1``: first difference of the log;
    * ``seasonal_diff7``: weekly (lag-7) difference of the log, same weekday a week before;
    * ``minus_level``: log minus the mean of the previous `level_window` days, the de-trending
      the LSTM actually uses (the target relative to its input window's level).
    """
    s = series.astype(np.float64)
    level = s.shift(1).rolling(level_window, min_periods=max(3, level_window // 4)).mean()
    return {"log": s.dropna(), "diff1": s.diff(1).dropna(), "seasonal_diff7": s.diff(7).dropna(),
            "minus_level": (s - level).dropna()}


def adf_kpss(x: np.ndarray, alpha: float = 0.05, maxlag: int = 14) -> dict[str, float | bool | str]:
    """ADF (H0: unit root) and KPSS (H0: level-stationary) on one series, and the joint verdict:
    stationary when ADF rejects and KPSS does not; non-stationary when KPSS rejects and ADF does
    not; otherwise inconclusive (difference-stationary or trend-stationary mixes).

    ADF picks its lag order by AIC up to `maxlag` (two weeks covers the weekly cycle; the
    statsmodels default, ~20 lags for 900 days, is ~10x slower for the same verdicts)."""
    from statsmodels.tools.sm_exceptions import InterpolationWarning
    from statsmodels.tsa.stattools import adfuller, kpss

    x = np.asarray(x, dtype=np.float64)
    with warnings.catch_warnings():
        # KPSS p-values are read from a table and clipped at 0.01 / 0.1; the warning says so.
        warnings.simplefilter("ignore", InterpolationWarning)
        # statsmodels 0.15 announces result objects; the tuple layout used here is unchanged
        warnings.simplefilter("ignore", FutureWarning)
        adf_stat, adf_p, *_ = adfuller(x, maxlag=maxlag, autolag="AIC")
        kpss_stat, kpss_p, *_ = kpss(x, regression="c", nlags="auto")
    adf_ok, kpss_ok = adf_p < alpha, kpss_p >= alpha
    verdict = ("stationary" if adf_ok and kpss_ok else
               "non-stationary" if not adf_ok and not kpss_ok else "inconclusive")
    return {"n": int(len(x)), "adf_stat": float(adf_stat), "adf_pvalue": float(adf_p),
            "kpss_stat": float(kpss_stat), "kpss_pvalue": float(kpss_p),
            "adf_rejects_unit_root": bool(adf_ok), "kpss_accepts_stationarity": bool(kpss_ok),
            "verdict": verdict}


def stationarity_table(series: Mapping[str, pd.Series], level_window: int,
                       alpha: float = 0.05, maxlag: int = 14) -> pd.DataFrame:
    """One row per (series, transform) with ADF/KPSS statistics, p-values and the verdict."""
    t0 = time.perf_counter()
    rows = []
    for name, s in series.items():
        for tname, x in transforms(s, level_window).items():
            if len(x) < 50:
                continue
            rows.append({"series": name, "transform": tname,
                         **adf_kpss(x.to_numpy(), alpha, maxlag)})
    table = pd.DataFrame(rows)
    logger.info("Stationarity tests: %d series x %d transforms in %.1fs", len(series),
                table["transform"].nunique() if len(table) else 0, time.perf_counter() - t0)
    return table


def acf_pacf_table(series: Mapping[str, pd.Series], nlags: int) -> pd.DataFrame:
    """ACF and PACF (with the 95% white-noise band) per named series; series must be gap-free."""
    from statsmodels.tsa.stattools import acf, pacf

    frames = []
    for name, s in series.items():
        x = s.to_numpy(np.float64)
        n_lags = min(nlags, len(x) // 2 - 1)
        frames.append(pd.DataFrame({
            "series": name, "lag": np.arange(n_lags + 1),
            "acf": acf(x, nlags=n_lags, fft=True), "pacf": pacf(x, nlags=n_lags, method="ywm"),
            "band": 1.96 / np.sqrt(len(x)),
        }))
    return pd.concat(frames, ignore_index=True)


def acf_pacf_figure(table: pd.DataFrame, title: str):
    """Plotly stem-style bars: one row per series, ACF left and PACF right, 95% band dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(dict.fromkeys(table["series"]))
    fig = make_subplots(rows=len(names), cols=2, shared_xaxes=True,
                        subplot_titles=[f"{f} — {n}" for n in names for f in ("ACF", "PACF")])
    for r, name in enumerate(names, start=1):
        part = table.loc[table["series"] == name]
        for c, col in enumerate(("acf", "pacf"), start=1):
            fig.add_trace(go.Bar(x=part["lag"], y=part[col], name=f"{col} {name}",
                                 showlegend=False, marker_color="#1f77b4"), row=r, col=c)
            band = float(part["band"].iloc[0])
            for y in (band, -band):
                fig.add_hline(y=y, line_dash="dash", line_color="grey", row=r, col=c)
    fig.update_layout(title=title, height=280 * len(names), width=1100, bargap=0.6)
    fig.update_xaxes(title_text="lag (days)", row=len(names))
    return fig
