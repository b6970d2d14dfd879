"""Seeded synthetic stand-in for the Kaggle Rossmann data (train.csv, store.csv, test.csv).

Why it exists: the project must run end-to-end (`kedro run`, tests, serving) on a fresh clone
without the real data, and the tests need data whose true effects are known. The generator
reproduces the structure and quirks of the real files (store types, Sunday closures, state and
school holidays per German state, promo calendar, refurbishment gap, competitor openings,
missing values, CSV quoting) and plants effects of known size, documented in `PLANTED_EFFECTS`,
so analyses can be checked against the truth.

Use:
    tables = generate(n_stores=60, seed=42)            # dict of Kaggle-format DataFrames
    write_csvs("out/", seed=1)                         # train.csv, store.csv, test.csv
    ensure_synthetic_csvs("data/01_raw/synthetic", n_stores=60, seed=42)   # idempotent
    write_partitioned("out/", n_stores=10_000)         # train as Parquet files of whole stores
    python -m rossmann_kedro.synthetic --out DIR [--stores N] [--seed S] [--gzip | --partitioned]

Everything is vectorised over a (store x day) grid, so the full scale (1,115 stores, ~1M rows)
takes a few seconds. The output is a pure function of the parameters (and GENERATOR_VERSION).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip as _gzip
import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Bump when the generated content changes, so `ensure_synthetic_csvs` regenerates old files.
GENERATOR_VERSION = 1

TRAIN_COLUMNS = [
    "Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo", "StateHoliday",
    "SchoolHoliday",
]
STORE_COLUMNS = [
    "Store", "StoreType", "Assortment", "CompetitionDistance", "CompetitionOpenSinceMonth",
    "CompetitionOpenSinceYear", "Promo2", "Promo2SinceWeek", "Promo2SinceYear", "PromoInterval",
]
TEST_COLUMNS = [
    "Id", "Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday",
]
#: Columns the real CSVs write in double quotes (the header is quoted too).
QUOTED_COLUMNS = {"StateHoliday", "SchoolHoliday", "StoreType", "Assortment", "PromoInterval"}

MARKER_NAME = "_synthetic_params.json"
PROMO_INTERVALS = ("Jan,Apr,Jul,Oct", "Feb,May,Aug,Nov", "Mar,Jun,Sept,Dec")
_INTERVAL_MONTHS = {
    "Jan,Apr,Jul,Oct": (1, 4, 7, 10),
    "Feb,May,Aug,Nov": (2, 5, 8, 11),
    "Mar,Jun,Sept,Dec": (3, 6, 9, 12),
}

#: The true effects built into the data (multiplicative on expected Sales unless noted).
#: Tests and EDA checks compare what analyses recover against these numbers.
PLANTED_EFFECTS: dict[str, Any] = {
    # Promo (same Mon-Fri days for all stores, alternating weeks + some extra weeks):
    "promo_sales_uplift": 0.35,        # Sales x (1 + 0.35) on promo days
    "promo_customers_uplift": 0.18,    # Customers x (1 + 0.18) on promo days
    # Every other effect below multiplies Sales by f and Customers by f ** this share
    # (the rest goes into sales per customer).
    "customers_share_of_other_effects": 0.75,
    # Day of week (1=Mon..7=Sun; 7 only matters for the few Sunday-open stores).
    "day_of_week_factors": {1: 1.20, 2: 1.03, 3: 0.97, 4: 0.97, 5: 1.02, 6: 0.85, 7: 1.05},
    # Christmas: December 1-16 and 24-31 x (1 + december_uplift);
    # the week before Christmas Eve (Dec 17-23) x (1 + christmas_week_uplift).
    "december_uplift": 0.15,
    "christmas_week_uplift": 0.45,
    "christmas_week_days": (17, 23),
    # Easter: Mon-Sat of Holy Week (Easter Sunday - 6 .. - 1; Good Friday is a closed holiday).
    "easter_uplift": 0.15,
    "easter_window_days_before": (6, 1),
    # Yearly seasonality: x exp(amplitude * sin(2 pi (day_of_year - 80) / 365.25)), peak ~June 20.
    "yearly_amplitude": 0.04,
    # Trend: x (1 + trend_per_year) ** years_since_start.
    "trend_per_year": 0.02,
    # School holiday days (store's state): x (1 + school_holiday_uplift).
    "school_holiday_uplift": 0.03,
    # Competition distance: x (1 - competition_distance_effect * exp(-distance / scale)),
    # i.e. close competitors lower sales (none when the distance is unknown).
    "competition_distance_effect": 0.10,
    "competition_distance_scale_m": 1500.0,
    # Stores whose competitor opens inside the train period (CompetitionOpenSince in range):
    # x (1 - competition_opening_drop) from the first day of that month on.
    "competition_opening_drop": 0.12,
    "competition_opening_store_share": 0.12,
    # Promo2 stores, once Promo2 has started, in the months of their PromoInterval:
    "promo2_interval_uplift": 0.03,
    "promo2_store_share": 0.49,
    # Store types: mean customers and sales per customer at the store level (before effects).
    "store_type_shares": {"a": 0.54, "b": 0.02, "c": 0.13, "d": 0.31},
    "store_type_customers": {"a": 680.0, "b": 1700.0, "c": 680.0, "d": 510.0},
    "store_type_sales_per_customer": {"a": 8.1, "b": 4.8, "c": 8.1, "d": 10.6},
    "assortment_c_sales_per_customer_uplift": 0.05,
    "store_level_sigma": 0.35,         # lognormal store-level spread of customers
    "store_spc_sigma": 0.08,           # lognormal store-level spread of sales per customer
    # Daily multiplicative lognormal noise.
    "customers_noise_sigma": 0.08,
    "sales_per_customer_noise_sigma": 0.04,
    # Opening behaviour.
    "sunday_open_types": ("b",),       # all type-b stores open on Sundays ...
    "sunday_open_other_share": 0.01,   # ... plus about 1% of the others (at least 1 if >= 40)
    "state_holiday_open_prob": 0.02,   # stores mostly closed on state holidays
    "state_holiday_open_prob_sunday_stores": 0.5,
    "random_closure_prob": 0.004,      # single-day closures on ordinary Mon-Sat days
    "zero_sales_open_share": 1e-4,     # open days with Sales == 0 (at least one)
    # Refurbishment: this share of stores has no train rows in this window (if inside range).
    "refurbishment_share": 0.15,
    "refurbishment_window": ("2014-07-01", "2014-12-31"),
    "test_store_share": 0.75,
}

# German states: share of stores (roughly the real Rossmann spread).
STATES: dict[str, float] = {
    "NW": 0.29, "BY": 0.16, "HE": 0.10, "BE": 0.08, "BW": 0.08, "NI": 0.07,
    "SN": 0.07, "ST": 0.05, "RP": 0.04, "TH": 0.03, "HH": 0.02, "SH": 0.01,
}
_WINTER_BREAK_STATES = {"BY", "SN", "ST", "TH", "BE", "HH", "NI"}
_WHITSUN_BREAK_STATES = {"BY", "BW"}


# --------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------
def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm); holidays hang off it."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def state_holidays(year: int, state: str) -> dict[date, str]:
    """State holidays of one German state in Kaggle coding: a=public, b=Easter, c=Christmas."""
    easter = easter_sunday(year)
    hol: dict[date, str] = {
        date(year, 1, 1): "a",
        date(year, 5, 1): "a",
        easter + timedelta(days=39): "a",   # Ascension
        easter + timedelta(days=50): "a",   # Whit Monday
        date(year, 10, 3): "a",             # German Unity Day
        easter - timedelta(days=2): "b",    # Good Friday
        easter + timedelta(days=1): "b",    # Easter Monday
        date(year, 12, 25): "c",
        date(year, 12, 26): "c",
    }
    if state in {"BW", "BY", "ST"}:
        hol[date(year, 1, 6)] = "a"        # Epiphany
    if state in {"BW", "BY", "HE", "NW", "RP"}:
        hol[easter + timedelta(days=60)] = "a"  # Corpus Christi
    if state == "BY":
        hol[date(year, 8, 15)] = "a"       # Assumption
    if state in {"SN", "ST", "TH"}:
        hol[date(year, 10, 31)] = "a"      # Reformation Day
    if state in {"BW", "BY", "NW", "RP"}:
        hol[date(year, 11, 1)] = "a"       # All Saints
    if state == "SN":                      # Repentance Day: Wednesday before Nov 23
        nov22 = date(year, 11, 22)
        hol[nov22 - timedelta(days=(nov22.weekday() - 2) % 7)] = "a"
    return hol


def school_holiday_blocks(year: int, state: str) -> list[tuple[date, int]]:
    """School holiday blocks (first day, length) of one state: summer ~6 weeks at a
    state- and year-specific time, Easter, autumn, Christmas, and winter/Whitsun breaks."""
    i = list(STATES).index(state)
    y = year - 2000
    easter = easter_sunday(year)
    blocks = [
        (date(year, 6, 20) + timedelta(days=(i * 11 + y * 17) % 40), 42),   # summer
        (easter - timedelta(days=7 + 2 * (i % 3)), 14),                      # Easter
        (date(year, 10, 1) + timedelta(days=(i * 5 + y * 3) % 24), 11),      # autumn
        (date(year, 12, 22) + timedelta(days=i % 2), 14),                    # Christmas
    ]
    if state in _WINTER_BREAK_STATES:
        blocks.append((date(year, 2, 1) + timedelta(days=(i * 7) % 21), 7))
    if state in _WHITSUN_BREAK_STATES:
        blocks.append((easter + timedelta(days=51), 11))
    return blocks


def _calendar_matrices(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(state x day) matrices: state-holiday code (0 none, 1 a, 2 b, 3 c) and school holiday."""
    n_days = len(days)
    first = days[0].date()
    years = range(days[0].year - 1, days[-1].year + 2)
    codes = {"a": 1, "b": 2, "c": 3}
    hol = np.zeros((len(STATES), n_days), dtype=np.int8)
    school = np.zeros((len(STATES), n_days), dtype=bool)
    for si, state in enumerate(STATES):
        for year in years:
            for d, code in state_holidays(year, state).items():
                k = (d - first).days
                if 0 <= k < n_days:
                    hol[si, k] = codes[code]
            for d0, length in school_holiday_blocks(year, state):
                k0 = (d0 - first).days
                lo, hi = max(k0, 0), min(k0 + length, n_days)
                if lo < hi:
                    school[si, lo:hi] = True
    return hol, school


def _promo_calendar(days: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Promo days shared by all stores: Mon-Fri of alternating weeks, plus ~7% extra weeks,
    as in the real data (a chain-wide promo calendar)."""
    monday0 = pd.Timestamp("2012-12-31")  # a Monday before any sensible start
    week = ((days - monday0).days // 7).to_numpy()
    n_weeks = int(week.max()) + 1
    phase = int(rng.integers(0, 2))
    promo_week = (np.arange(n_weeks) + phase) % 2 == 0
    promo_week |= rng.random(n_weeks) < 0.07
    return promo_week[week] & (days.day_of_week.to_numpy() < 5)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------
def _pick_exact(rng: np.random.Generator, candidates: np.ndarray, share: float,
                minimum: int = 0) -> np.ndarray:
    """Choose round(share * n) (at least `minimum`, at most n) of `candidates`, deterministically.

    Exact counts (rather than Bernoulli draws) keep small data sets from losing a feature by
    bad luck, which would make downstream tests flaky.
    """
    n = len(candidates)
    k = min(n, max(minimum, int(round(share * n))))
    return np.sort(rng.choice(candidates, size=k, replace=False)) if k else candidates[:0]


def _store_table(n_stores: int, start: pd.Timestamp, train_end: pd.Timestamp,
                 rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """store.csv plus the hidden per-store truth (state, levels, opening date, flags)."""
    pe = PLANTED_EFFECTS
    stores = np.arange(1, n_stores + 1)
    types = np.array(list(pe["store_type_shares"]))
    store_type = rng.choice(types, size=n_stores, p=list(pe["store_type_shares"].values()))
    if n_stores >= 4:  # every type present (type b is rare but must exist for the tests)
        which = rng.choice(n_stores, size=4, replace=False)
        store_type[which] = types
    # Assortment: b only with type b (and mostly there), a/c shares by type as in the real data.
    share_a = {"a": 0.63, "b": 0.4, "c": 0.52, "d": 0.37}
    u = rng.random(n_stores)
    assortment = np.where(u < np.vectorize(share_a.get)(store_type), "a", "c").astype(object)
    is_b = store_type == "b"
    assortment[is_b & (u >= 0.4)] = "b"
    if is_b.any() and not (assortment == "b").any():
        assortment[np.flatnonzero(is_b)[0]] = "b"

    state = rng.choice(np.array(list(STATES)), size=n_stores, p=list(STATES.values()))

    # Competition: lognormal distance, a few unknown; ~30% unknown opening date; some openings
    # inside the train period (with a planted drop), the rest long before the start.
    dist = np.exp(rng.normal(np.log(2300.0), 1.3, n_stores))
    dist = np.clip(np.round(dist / 10.0) * 10.0, 20.0, 75860.0)
    no_dist = _pick_exact(rng, stores, 0.003, minimum=1 if n_stores >= 20 else 0)
    dist[no_dist - 1] = np.nan
    has_dist = ~np.isnan(dist)
    unknown_since = rng.random(n_stores) < 0.30
    unknown_since |= ~has_dist
    comp_month = rng.integers(1, 13, n_stores).astype(float)
    comp_year = rng.integers(1990, start.year, n_stores).astype(float)
    comp_year[comp_year < 1995] = rng.integers(1995, 2013, int((comp_year < 1995).sum()))
    known = stores[~unknown_since]
    lo_m = (start + pd.Timedelta(days=90)).to_period("M")
    hi_m = (train_end - pd.Timedelta(days=90)).to_period("M")
    opening_date = np.full(n_stores, np.datetime64("NaT"), dtype="datetime64[ns]")
    if hi_m > lo_m:
        openers = _pick_exact(rng, known, pe["competition_opening_store_share"],
                              minimum=2 if n_stores >= 10 else 0)
        span = (hi_m - lo_m).n
        for s in openers:
            p = lo_m + int(rng.integers(0, span + 1))
            comp_month[s - 1], comp_year[s - 1] = p.month, p.year
            opening_date[s - 1] = p.to_timestamp().to_datetime64()
    comp_month[unknown_since] = np.nan
    comp_year[unknown_since] = np.nan

    # Promo2: about half of the stores, started at some ISO week.
    promo2 = rng.random(n_stores) < pe["promo2_store_share"]
    p2_week = np.where(promo2, rng.integers(1, 51, n_stores), np.nan)
    p2_year = np.where(promo2, rng.integers(2009, train_end.year + 1, n_stores), np.nan)
    interval = np.where(promo2, rng.choice(np.array(PROMO_INTERVALS), n_stores,
                                           p=[0.58, 0.23, 0.19]), None)

    store = pd.DataFrame({
        "Store": stores.astype("int64"),
        "StoreType": pd.array(store_type, dtype="str"),
        "Assortment": pd.array(assortment.astype(str), dtype="str"),
        "CompetitionDistance": dist,
        "CompetitionOpenSinceMonth": comp_month,
        "CompetitionOpenSinceYear": comp_year,
        "Promo2": promo2.astype("int64"),
        "Promo2SinceWeek": p2_week.astype(float),
        "Promo2SinceYear": p2_year.astype(float),
        "PromoInterval": pd.array(interval, dtype="str"),
    })

    # Hidden truth.
    base_cust = np.vectorize(pe["store_type_customers"].get)(store_type) * np.exp(
        rng.normal(0.0, pe["store_level_sigma"], n_stores))
    base_spc = np.vectorize(pe["store_type_sales_per_customer"].get)(store_type) * np.exp(
        rng.normal(0.0, pe["store_spc_sigma"], n_stores))
    base_spc *= np.where(assortment == "c", 1 + pe["assortment_c_sales_per_customer_uplift"], 1.0)
    sunday_open = np.isin(store_type, pe["sunday_open_types"])
    others = stores[~sunday_open]
    extra = _pick_exact(rng, others, pe["sunday_open_other_share"],
                        minimum=1 if n_stores >= 40 else 0)
    sunday_open[extra - 1] = True
    p2_start = pd.to_datetime(
        [f"{int(y)}-W{int(w):02d}-1" if ok else None
         for ok, y, w in zip(promo2, np.nan_to_num(p2_year), np.nan_to_num(p2_week),
                             strict=True)],
        format="%G-W%V-%u", errors="coerce")
    truth = pd.DataFrame({
        "Store": stores, "State": state, "BaseCustomers": base_cust,
        "BaseSalesPerCustomer": base_spc, "SundayOpen": sunday_open,
        "CompetitorOpening": opening_date, "Promo2Start": p2_start,
    })
    return store, truth


def _check_params(n_stores: int, start: str, train_end: str, test_days: int) -> None:
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    if test_days < 1:
        raise ValueError(f"test_days must be >= 1, got {test_days}")
    if pd.Timestamp(train_end) < pd.Timestamp(start):
        raise ValueError(f"train_end {train_end} is before start {start}")


class _DayGrid:
    """The day axis shared by every store: dates, calendar parts, per-state holiday matrices
    and the chain-wide promo calendar (the one random draw here)."""

    def __init__(self, start: str, train_end: str, test_days: int,
                 rng: np.random.Generator) -> None:
        self.t0, self.t1 = pd.Timestamp(start), pd.Timestamp(train_end)
        self.days = pd.date_range(self.t0, self.t1 + pd.Timedelta(days=test_days), freq="D")
        self.n_days = len(self.days)
        self.n_train = self.n_days - test_days
        self.dow = self.days.day_of_week.to_numpy() + 1             # 1=Mon..7=Sun
        self.month = self.days.month.to_numpy()
        self.dom = self.days.day.to_numpy()
        self.doy = self.days.day_of_year.to_numpy()
        self.hol_state, self.school_state = _calendar_matrices(self.days)
        self.promo_days = _promo_calendar(self.days, rng)
        self.date_str = np.asarray(self.days.strftime("%Y-%m-%d"), dtype=object)


def _simulate(n_stores: int, start: str, train_end: str, test_days: int,
              seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Build the three tables and the per-store truth in one pass over a store x day grid."""
    _check_params(n_stores, start, train_end, test_days)
    rng = np.random.default_rng(seed)
    store, truth = _store_table(n_stores, pd.Timestamp(start), pd.Timestamp(train_end), rng)
    grid = _DayGrid(start, train_end, test_days, rng)
    train, test = _simulate_stores(store, truth, grid, rng, plant_test_open_gap=True)
    test.insert(0, "Id", np.arange(1, len(test) + 1, dtype="int64"))
    return {"train": train, "store": store, "test": test}, truth


def _simulate_stores(store: pd.DataFrame, truth: pd.DataFrame, grid: _DayGrid,
                     rng: np.random.Generator,
                     plant_test_open_gap: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test rows (test without Id) of the stores in `store`/`truth` (aligned rows).

    Adds Refurbished, InTest and TestOpenMissing to `truth` in place. Works on any subset of
    stores, so a large chain can be simulated chunk by chunk (`write_partitioned`).
    """
    pe = PLANTED_EFFECTS
    days, n_days, n_train = grid.days, grid.n_days, grid.n_train
    t0, t1 = grid.t0, grid.t1
    S = len(store)
    dow, month, dom, doy = grid.dow, grid.month, grid.dom, grid.doy
    store_no = store["Store"].to_numpy(np.int64)

    state_idx = pd.Index(list(STATES)).get_indexer(truth["State"])
    hol = grid.hol_state[state_idx]                 # (S, D) int8
    school = grid.school_state[state_idx]           # (S, D) bool
    promo = np.broadcast_to(grid.promo_days, (S, n_days))

    # --- opening -------------------------------------------------------------------------
    sunday_open = truth["SundayOpen"].to_numpy()[:, None]
    u = rng.random((S, n_days))
    is_sunday = (dow == 7)[None, :]
    hol_open_p = np.where(sunday_open, pe["state_holiday_open_prob_sunday_stores"],
                          pe["state_holiday_open_prob"])
    open_ = np.where(hol > 0, u < hol_open_p, u >= pe["random_closure_prob"])
    open_ &= ~is_sunday | sunday_open

    # --- expected sales (log scale) ------------------------------------------------------
    dow_f = np.log(np.array([pe["day_of_week_factors"][d] for d in range(1, 8)]))[dow - 1]
    years = (days - t0).days.to_numpy() / 365.25
    day_log = (dow_f
               + pe["yearly_amplitude"] * np.sin(2 * np.pi * (doy - 80) / 365.25)
               + np.log1p(pe["trend_per_year"]) * years)
    w0, w1 = pe["christmas_week_days"]
    xmas_week = (month == 12) & (dom >= w0) & (dom <= w1)
    day_log += np.where(xmas_week, np.log1p(pe["christmas_week_uplift"]),
                        np.where(month == 12, np.log1p(pe["december_uplift"]), 0.0))
    easter = pd.to_datetime([easter_sunday(y) for y in days.year.unique()])
    b0, b1 = pe["easter_window_days_before"]
    easter_window = np.zeros(n_days, dtype=bool)
    for e in easter:
        easter_window |= (days >= e - pd.Timedelta(days=b0)) & (days <= e - pd.Timedelta(days=b1))
    day_log += np.where(easter_window, np.log1p(pe["easter_uplift"]), 0.0)

    dist = store["CompetitionDistance"].to_numpy()
    store_log = np.log1p(-pe["competition_distance_effect"] * np.nan_to_num(
        np.exp(-dist / pe["competition_distance_scale_m"]), nan=0.0))

    other = day_log[None, :] + store_log[:, None] + school * np.log1p(pe["school_holiday_uplift"])
    opening = truth["CompetitorOpening"].to_numpy()
    after_open = days.to_numpy()[None, :] >= opening[:, None]   # NaT compares False
    other = other + after_open * np.log1p(-pe["competition_opening_drop"])
    # Promo2: interval months once started.
    p2_months = np.zeros((S, 13), dtype=bool)
    for k, iv in enumerate(store["PromoInterval"]):
        if isinstance(iv, str):
            p2_months[k, list(_INTERVAL_MONTHS[iv])] = True
    p2_start = truth["Promo2Start"].to_numpy()
    p2_on = p2_months[:, month] & (days.to_numpy()[None, :] >= p2_start[:, None])
    other = other + p2_on * np.log1p(pe["promo2_interval_uplift"])

    share = pe["customers_share_of_other_effects"]
    log_cust = share * other + promo * np.log1p(pe["promo_customers_uplift"])
    log_sales = other + promo * np.log1p(pe["promo_sales_uplift"])
    log_cust = log_cust + rng.normal(0.0, pe["customers_noise_sigma"], (S, n_days))
    log_spc = (log_sales - share * other - promo * np.log1p(pe["promo_customers_uplift"])
               + rng.normal(0.0, pe["sales_per_customer_noise_sigma"], (S, n_days)))
    customers_f = truth["BaseCustomers"].to_numpy()[:, None] * np.exp(log_cust)
    customers = np.rint(customers_f).astype(np.int64)
    sales = np.rint(customers_f * truth["BaseSalesPerCustomer"].to_numpy()[:, None]
                    * np.exp(log_spc)).astype(np.int64)
    sales[~open_] = 0
    customers[~open_] = 0

    # --- train rows: drop the refurbishment gap, plant a few zero-sales open days ----------
    keep = np.ones((S, n_days), dtype=bool)
    keep[:, n_train:] = False
    r0, r1 = (pd.Timestamp(x) for x in pe["refurbishment_window"])
    refurbished = np.zeros(S, dtype=bool)
    if t0 <= r0 and r1 <= t1:
        refurb = _pick_exact(rng, np.arange(S), pe["refurbishment_share"])
        refurbished[refurb] = True
        in_window = np.asarray((days >= r0) & (days <= r1))
        keep[np.ix_(refurbished, in_window)] = False
    truth["Refurbished"] = refurbished
    open_train = np.flatnonzero((open_ & keep).ravel())
    n_zero = max(1, int(round(pe["zero_sales_open_share"] * len(open_train))))
    if len(open_train):
        zero = rng.choice(open_train, size=min(n_zero, len(open_train)), replace=False)
        sales.ravel()[zero] = 0
        customers.ravel()[zero] = 0

    hol_codes = np.array(["0", "a", "b", "c"], dtype=object)
    date_str = grid.date_str

    # Sort order of the real files: Date descending, then Store ascending.
    def grid_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Iterate days from last to first, stores ascending within a day.
        di_rev, si = np.nonzero(mask[:, ::-1].T)
        return si, n_days - 1 - di_rev

    si, di = grid_rows(keep)
    train = pd.DataFrame({
        "Store": store_no[si],
        "DayOfWeek": dow[di].astype("int64"),
        "Date": pd.array(date_str[di], dtype="str"),
        "Sales": sales[si, di],
        "Customers": customers[si, di],
        "Open": open_[si, di].astype("int64"),
        "Promo": promo[si, di].astype("int64"),
        "StateHoliday": pd.array(hol_codes[hol[si, di]], dtype="str"),
        "SchoolHoliday": school[si, di].astype("int64"),
    })

    # --- test rows: the next `test_days` days for ~75% of the stores ---------------------
    test_stores = _pick_exact(rng, np.arange(S), pe["test_store_share"], minimum=1)
    tmask = np.zeros((S, n_days), dtype=bool)
    tmask[np.ix_(test_stores, np.arange(n_train, n_days))] = True
    si, di = grid_rows(tmask)
    test_open = open_[si, di].astype("float64")
    # Open missing on up to 11 non-Sunday rows of one store, as in the real test.csv.
    nan_store = test_stores[int(rng.integers(0, len(test_stores)))] if plant_test_open_gap else -1
    cand = np.flatnonzero((si == nan_store) & (dow[di] != 7))
    test_open[cand[:11]] = np.nan
    test = pd.DataFrame({
        "Store": store_no[si],
        "DayOfWeek": dow[di].astype("int64"),
        "Date": pd.array(date_str[di], dtype="str"),
        "Open": test_open,
        "Promo": promo[si, di].astype("int64"),
        "StateHoliday": pd.array(hol_codes[hol[si, di]], dtype="str"),
        "SchoolHoliday": school[si, di].astype("int64"),
    })
    truth["InTest"] = np.isin(np.arange(S), test_stores)
    truth["TestOpenMissing"] = np.arange(S) == nan_store
    return train, test


def generate(n_stores: int = 60, start: str = "2013-01-01", train_end: str = "2015-06-19",
             test_days: int = 48, seed: int = 42) -> dict[str, pd.DataFrame]:
    """Kaggle-format tables {"train", "store", "test"}, deterministic for the parameters.

    Column dtypes equal what `pd.read_csv` gives on the real files (Date and StateHoliday as
    strings, SchoolHoliday as int, NaN-able store columns and test Open as float).
    """
    tables, _ = _simulate(n_stores, start, train_end, test_days, seed)
    return tables


def generate_with_truth(**generate_kwargs: Any) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Like `generate`, plus the hidden per-store truth (State, base levels, SundayOpen,
    CompetitorOpening, Promo2Start, Refurbished, InTest, ...) for tests of the analyses."""
    kw = _resolved_params(generate_kwargs)
    return _simulate(**kw)


# --------------------------------------------------------------------------------------------
# CSV output
# --------------------------------------------------------------------------------------------
def _format_column(s: pd.Series, quoted: bool) -> pd.Series:
    """One column as CSV text like the real files: quoted strings ("" when missing), integers
    without decimals, missing numbers as an empty field."""
    if quoted:
        return '"' + s.astype("str").fillna("") + '"'
    if pd.api.types.is_float_dtype(s):
        vals = s.to_numpy()
        finite = vals[~np.isnan(vals)]
        if np.all(finite == np.round(finite)):
            return s.astype("Int64").astype("str").fillna("")
        return s.astype("str").fillna("")
    return s.astype("str")


def _csv_chunks(df: pd.DataFrame, chunk_rows: int = 200_000) -> Iterator[str]:
    """Render a table in the exact style of the Kaggle files (quoted header, quoted string
    columns, unquoted numbers and dates, NaN as an empty field, LF line ends), in chunks so
    the full-scale train table never exists as one giant string."""
    yield ",".join(f'"{c}"' for c in df.columns) + "\n"
    for lo in range(0, len(df), chunk_rows):
        part = df.iloc[lo:lo + chunk_rows]
        cols = [_format_column(part[c], c in QUOTED_COLUMNS) for c in df.columns]
        yield "\n".join(cols[0].str.cat(cols[1:], sep=",").tolist()) + "\n"


def to_csv_text(df: pd.DataFrame) -> str:
    """The whole table as CSV text in the Kaggle files' style (see `_csv_chunks`)."""
    return "".join(_csv_chunks(df))


@contextlib.contextmanager
def _atomic_open(path: Path) -> Iterator[Any]:
    """Binary file handle on a temp file next to `path`, renamed onto `path` on success, so
    readers (and concurrent writers) never see a half-written file. Mode follows the umask."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_csvs(out_dir: str | Path, tables: Mapping[str, pd.DataFrame] | None = None,
               gzip: bool = False, **generate_kwargs: Any) -> dict[str, Path]:
    """Write train.csv, store.csv and test.csv (or .csv.gz) into `out_dir`, atomically.

    `tables` defaults to `generate(**generate_kwargs)`. Gzip output has a fixed mtime and no
    file name in its header, so equal parameters give byte-identical files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tables is None:
        tables = generate(**generate_kwargs)
    elif generate_kwargs:
        raise TypeError("pass either tables or generate kwargs, not both")
    written: dict[str, Path] = {}
    for name in ("train", "store", "test"):
        path = out / (f"{name}.csv.gz" if gzip else f"{name}.csv")
        with _atomic_open(path) as raw:
            fh = _gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) if gzip else raw
            with fh if gzip else contextlib.nullcontext(fh):
                for chunk in _csv_chunks(tables[name]):
                    fh.write(chunk.encode("utf-8"))
        written[name] = path
    return written


def _resolved_params(generate_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters with defaults filled in and normalised (YAML may give dates as `date`, numbers
    as strings), so equal data gives an equal, JSON-serialisable marker."""
    bound = inspect.signature(generate).bind(**generate_kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    for key in ("n_stores", "test_days", "seed"):
        params[key] = int(params[key])
    for key in ("start", "train_end"):
        params[key] = pd.Timestamp(params[key]).strftime("%Y-%m-%d")
    return params


@contextlib.contextmanager
def _dir_lock(out: Path) -> Iterator[None]:
    """Exclusive lock on `out/.lock` (POSIX); a no-op elsewhere, where atomic renames of
    deterministic output still keep concurrent callers safe."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(out / ".synthetic.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_synthetic_csvs(out_dir: str | Path, **generate_kwargs: Any) -> Path:
    """Make sure `out_dir` holds train/store/test.csv generated with these parameters.

    Idempotent: regenerates only when a file is missing or the JSON marker next to them records
    other parameters (or another GENERATOR_VERSION). Safe for concurrent callers: a directory
    lock serialises them and every file is replaced atomically. Returns `out_dir`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = _resolved_params(generate_kwargs)
    wanted = {"generator_version": GENERATOR_VERSION, "params": params}
    marker = out / MARKER_NAME
    with _dir_lock(out):
        files_ok = all((out / f"{t}.csv").is_file() for t in ("train", "store", "test"))
        try:
            current = json.loads(marker.read_text())
        except (OSError, ValueError):
            current = None
        if files_ok and current == wanted:
            logger.debug("Synthetic CSVs in %s are up to date (%s)", out, params)
            return out
        t = time.perf_counter()
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()  # files and marker must never disagree, even after a crash
        written = write_csvs(out, **params)
        with _atomic_open(marker) as fh:
            fh.write((json.dumps(wanted, indent=2, sort_keys=True) + "\n").encode())
        logger.info("Generated synthetic Rossmann CSVs in %s (%s) in %.2fs: %s", out, params,
                    time.perf_counter() - t, ", ".join(p.name for p in written.values()))
    return out


# --------------------------------------------------------------------------------------------
# Partitioned output for large chains
# --------------------------------------------------------------------------------------------
PARTITIONED_MARKER = "_synthetic_partitioned.json"


def write_partitioned(out_dir: str | Path, n_stores: int, seed: int = 42,
                      stores_per_partition: int = 250, start: str = "2013-01-01",
                      train_end: str = "2015-06-19", test_days: int = 48) -> dict[str, Any]:
    """Write a chain of any size without holding its train table in memory.

    store.csv and test.csv (small: one row per store, or per store and test day) are written
    like `write_csvs`; train is written as `train/part-NNNNN.parquet`, one file per chunk of
    `stores_per_partition` consecutive stores, so every file holds whole stores (what the Dask
    environment's per-store steps rely on). Peak memory is about one chunk (~60 MB for 250
    stores), whatever `n_stores` is.

    Each chunk draws its days from its own seeded generator (`seed`, chunk number), so the
    output is deterministic but not the same rows as `generate(n_stores, seed)`, which draws
    the whole grid at once. Store table, calendars, promo schedule and planted effects are the
    same mechanism. Returns the partitioning description that is also saved as a marker.
    """
    _check_params(n_stores, start, train_end, test_days)
    if stores_per_partition < 1:
        raise ValueError(f"stores_per_partition must be >= 1, got {stores_per_partition}")
    t = time.perf_counter()
    out = Path(out_dir)
    train_dir = out / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (out / PARTITIONED_MARKER).unlink()
    for stale in train_dir.glob("part-*.parquet"):
        stale.unlink()
    rng = np.random.default_rng(seed)
    store, truth = _store_table(n_stores, pd.Timestamp(start), pd.Timestamp(train_end), rng)
    grid = _DayGrid(start, train_end, test_days, rng)
    tests, parts, n_train = [], [], 0
    for k, lo in enumerate(range(0, n_stores, stores_per_partition)):
        hi = min(lo + stores_per_partition, n_stores)
        chunk_rng = np.random.default_rng([seed, k])
        train, test = _simulate_stores(store.iloc[lo:hi].reset_index(drop=True),
                                       truth.iloc[lo:hi].reset_index(drop=True), grid,
                                       chunk_rng, plant_test_open_gap=k == 0)
        path = train_dir / f"part-{k:05d}.parquet"
        with _atomic_open(path) as fh:
            train.to_parquet(fh, index=False)
        parts.append({"file": path.name, "first_store": int(store["Store"].iloc[lo]),
                      "last_store": int(store["Store"].iloc[hi - 1]), "rows": len(train)})
        n_train += len(train)
        tests.append(test)
        logger.info("synthetic chain: partition %d (stores %d..%d, %d rows)", k,
                    parts[-1]["first_store"], parts[-1]["last_store"], len(train))
    test = pd.concat(tests, ignore_index=True)
    # the real file's order: Date descending, then Store ascending (ISO dates sort as text)
    test = test.sort_values(["Date", "Store"], ascending=[False, True], ignore_index=True)
    test.insert(0, "Id", np.arange(1, len(test) + 1, dtype="int64"))
    for name, table in (("store", store), ("test", test)):
        with _atomic_open(out / f"{name}.csv") as fh:
            for chunk in _csv_chunks(table):
                fh.write(chunk.encode("utf-8"))
    description = {
        "generator_version": GENERATOR_VERSION,
        "params": {"n_stores": int(n_stores), "seed": int(seed),
                   "stores_per_partition": int(stores_per_partition),
                   "start": pd.Timestamp(start).strftime("%Y-%m-%d"),
                   "train_end": pd.Timestamp(train_end).strftime("%Y-%m-%d"),
                   "test_days": int(test_days)},
        "partitioned_by": "Store",
        "partitions": parts,
        "rows": {"train": n_train, "store": len(store), "test": len(test)},
    }
    with _atomic_open(out / PARTITIONED_MARKER) as fh:
        fh.write((json.dumps(description, indent=2) + "\n").encode())
    logger.info("Wrote a partitioned synthetic chain of %d stores (%d train rows in %d files) "
                "to %s in %.1fs", n_stores, n_train, len(parts), out, time.perf_counter() - t)
    return description


def read_partitioned_marker(out_dir: str | Path) -> dict[str, Any] | None:
    """The description `write_partitioned` saved in `out_dir`, or None."""
    try:
        return json.loads((Path(out_dir) / PARTITIONED_MARKER).read_text())
    except (OSError, ValueError):
        return None


def ensure_partitioned(out_dir: str | Path, n_stores: int, seed: int = 42,
                       stores_per_partition: int = 250, **kwargs: Any) -> dict[str, Any]:
    """Idempotent `write_partitioned`: regenerates only when the marker records other
    parameters (or another GENERATOR_VERSION). Serialised by a directory lock."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _dir_lock(out):
        current = read_partitioned_marker(out)
        if current is not None:
            wanted = dict(current["params"], n_stores=int(n_stores), seed=int(seed),
                          stores_per_partition=int(stores_per_partition))
            for key in ("start", "train_end"):
                if key in kwargs:
                    wanted[key] = pd.Timestamp(kwargs[key]).strftime("%Y-%m-%d")
            if "test_days" in kwargs:
                wanted["test_days"] = int(kwargs["test_days"])
            files_ok = all((out / "train" / p["file"]).is_file() for p in current["partitions"])
            if (current["generator_version"] == GENERATOR_VERSION
                    and current["params"] == wanted and files_ok):
                return current
        return write_partitioned(out, n_stores, seed, stores_per_partition, **kwargs)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write a synthetic Rossmann data set, e.g. to try the project without Kaggle data."""
    parser = argparse.ArgumentParser(
        prog="python -m rossmann_kedro.synthetic",
        description="Write seeded synthetic Rossmann-format train.csv, store.csv and test.csv.",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--stores", type=int, default=60, help="number of stores (default 60; "
                        "1115 = full scale)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--start", default="2013-01-01", help="first train date (default "
                        "2013-01-01)")
    parser.add_argument("--train-end", default="2015-06-19", help="last train date (default "
                        "2015-06-19)")
    parser.add_argument("--test-days", type=int, default=48, help="days in test.csv right "
                        "after --train-end (default 48)")
    parser.add_argument("--gzip", action="store_true", help="write .csv.gz instead of .csv")
    parser.add_argument("--partitioned", action="store_true", help="write train as Parquet "
                        "files of whole stores (train/part-NNNNN.parquet) chunk by chunk, for "
                        "chains of any size; store.csv and test.csv as CSV")
    parser.add_argument("--stores-per-partition", type=int, default=250, help="stores per "
                        "train Parquet file with --partitioned (default 250)")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    if args.partitioned:
        if args.gzip:
            parser.error("--gzip applies to CSV output, not --partitioned")
        try:
            desc = write_partitioned(args.out, args.stores, seed=args.seed,
                                     stores_per_partition=args.stores_per_partition,
                                     start=args.start, train_end=args.train_end,
                                     test_days=args.test_days)
        except ValueError as exc:
            parser.error(str(exc))
        rows = desc["rows"]
        print(f"wrote {args.out / 'train'} ({rows['train']:,} rows in "  # noqa: T201 - CLI
              f"{len(desc['partitions'])} Parquet files), store.csv ({rows['store']:,} rows), "
              f"test.csv ({rows['test']:,} rows)")
        print(f"done in {time.perf_counter() - t:.2f}s "  # noqa: T201 - CLI output
              f"(stores={args.stores}, seed={args.seed}, partitioned)")
        return 0
    try:
        tables = generate(n_stores=args.stores, start=args.start, train_end=args.train_end,
                          test_days=args.test_days, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    paths = write_csvs(args.out, tables=tables, gzip=args.gzip)
    for name, path in paths.items():
        print(f"wrote {path} ({len(tables[name]):,} rows)")  # noqa: T201 - CLI output
    print(f"done in {time.perf_counter() - t:.2f}s "  # noqa: T201 - CLI output
          f"(stores={args.stores}, seed={args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
