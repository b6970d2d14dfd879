"""Plot nodes of the eda pipeline: aggregated tables in, matplotlib Figures out.

Figures are built with `matplotlib.figure.Figure` (no pyplot state, no GUI backend), saved by
`matplotlib.MatplotlibDataset` as PNGs that Kedro-Viz previews and the report embeds. They only
ever draw aggregated tables (means per offset, bin counts, quantiles), never the raw rows.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

TYPE_COLOURS = {"a": "#1f77b4", "b": "#ff7f0e", "c": "#2ca02c", "d": "#d62728"}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.0,
            title: str = "") -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    if title:
        fig.suptitle(title, fontsize=13)
    return fig, axes


def _done(fig: Figure, name: str) -> Figure:
    logger.info("plot %s: %d axes", name, len(fig.axes))
    return fig


def plot_promo_train_test(by_weekday: pd.DataFrame, per_store: pd.DataFrame) -> Figure:
    """Q1: promo share per weekday and per store, train vs test."""
    fig, (ax1, ax2) = _figure(2, title="Q1  Promotions: train vs test")
    x = np.arange(len(by_weekday))
    ax1.bar(x - 0.2, by_weekday["train_promo_share"], 0.4, label="train")
    ax1.bar(x + 0.2, by_weekday["test_promo_share"], 0.4, label="test")
    ax1.set_xticks(x, [WEEKDAYS[d - 1] for d in by_weekday["DayOfWeek"]])
    ax1.set_ylabel("share of days with Promo")
    ax1.set_title("per weekday")
    ax1.legend()
    shares = per_store[["train_promo_share", "test_promo_share"]]
    lo, hi = float(shares.min().min()), float(shares.max().max())
    bins = np.linspace(lo - 0.02, hi + 0.02, 41)
    ax2.hist(per_store["train_promo_share"].dropna(), bins=bins, alpha=0.6, label="train")
    ax2.hist(per_store["test_promo_share"].dropna(), bins=bins, alpha=0.6, label="test")
    ax2.set_xlabel("share of promo days per store")
    ax2.set_ylabel("stores")
    ax2.set_title("per store")
    ax2.legend()
    return _done(fig, "promo_train_test")


def plot_holiday_profiles(profile: pd.DataFrame) -> Figure:
    """Q2: mean relative sales by day offset around each kind of holiday."""
    fig, (ax,) = _figure(1, width=9, title="Q2  Sales around holidays")
    for event, g in profile.groupby("event", sort=False):
        ax.plot(g["offset_days"], g["mean_rel_sales"], marker="o", ms=3, label=event)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("days from holiday (school holidays: from first / first day after)")
    ax.set_ylabel("sales / store's usual (same weekday & promo)")
    ax.legend()
    return _done(fig, "holiday_profiles")


def plot_seasonality(monthly: pd.DataFrame, weekly: pd.DataFrame, trend: pd.DataFrame,
                     christmas: pd.DataFrame) -> Figure:
    """Q3: month and weekday patterns, weekly trend, Christmas run-up by year."""
    fig, axes = _figure(2, 2, title="Q3  Seasonality")
    ax = axes[0]
    ax.bar(monthly["Month"], monthly["mean_rel_sales"] - 1, bottom=1, color="#1f77b4")
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_xticks(range(1, 13))
    ax.set_title("month (sales / usual for weekday & promo)")
    ax = axes[1]
    for col in [c for c in weekly.columns if c.startswith("type_")]:
        ax.plot(weekly["DayOfWeek"], weekly[col], marker="o", label=col.replace("_", " "),
                color=TYPE_COLOURS.get(col[-1]))
    ax.plot(weekly["DayOfWeek"], weekly["all"], "k--", label="all")
    ax.set_xticks(range(1, 8), WEEKDAYS)
    ax.set_title("weekday (sales / store mean)")
    ax.legend(fontsize=8)
    ax = axes[2]
    week = pd.to_datetime(trend["Week"])   # CSV round trip gives strings
    ax.plot(week, trend["mean_sales_index"], lw=1)
    ax.plot(week, trend["mean_sales_index"].rolling(13, center=True, min_periods=4).mean(),
            "k", lw=2, label="13-week mean")
    ax.set_title("weekly sales / store mean over time")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=8)
    ax = axes[3]
    for year, g in christmas.groupby("year"):
        day = (pd.to_datetime(g["date"]) - pd.Timestamp(f"{year}-12-01")).dt.days
        ax.plot(day, g["rel_to_november"], marker=".", label=str(year))
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_xlabel("days from 1 December")
    ax.set_title("November-December, relative to November")
    ax.legend(fontsize=8)
    return _done(fig, "seasonality")


def plot_promo_effect(by_group: pd.DataFrame, by_store: pd.DataFrame) -> Figure:
    """Q4: promo uplift per store type (sales, customers, basket) and across stores."""
    fig, (ax1, ax2) = _figure(2, title="Q4  Promo effect (same store & weekday)")
    types = by_group[by_group["factor"] == "StoreType"]
    x = np.arange(len(types))
    for k, (col, label) in enumerate([("Sales_uplift_pct", "sales"),
                                      ("Customers_uplift_pct", "customers"),
                                      ("SalesPerCustomer_uplift_pct", "sales per customer")]):
        ax1.bar(x + (k - 1) * 0.27, types[col], 0.27, label=label)
    ax1.set_xticks(x, [f"type {t}" for t in types["group"]])
    ax1.set_ylabel("uplift on promo days, %")
    ax1.legend()
    ax2.hist(by_store["Sales_uplift_pct"].dropna(), bins=40, color="#1f77b4")
    ax2.axvline(by_store["Sales_uplift_pct"].median(), color="k", ls="--", label="median")
    ax2.set_xlabel("sales uplift per store, %")
    ax2.set_ylabel("stores")
    ax2.legend()
    return _done(fig, "promo_effect")


def plot_store_closures(profile: pd.DataFrame, weekday: pd.DataFrame) -> Figure:
    """Q5: sales before closing / after reopening; weekday sales of all-week vs other stores."""
    fig, (ax1, ax2) = _figure(2, title="Q5  Store closures and weekend trading")
    for event, g in profile.groupby("event", sort=False):
        ax1.plot(g["offset_days"], g["mean_rel_sales"], marker="o", ms=3, label=event)
    ax1.axhline(1, color="grey", lw=0.8, ls="--")
    ax1.set_xlabel("days before closing (<0) / after reopening (>0)")
    ax1.set_ylabel("sales / usual (same weekday & promo)")
    ax1.legend()
    for group, g in weekday.groupby("group"):
        g = g[g["days"] >= 100]   # e.g. the handful of Sundays a normally closed store opened
        ax2.plot(g["DayOfWeek"], g["mean_sales"], marker="o", label=group)
    ax2.set_xticks(range(1, 8), WEEKDAYS)
    ax2.set_ylabel("mean sales per open day")
    ax2.legend()
    return _done(fig, "store_closures")


def plot_customers_vs_sales(hist: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Q6: binned customers-vs-sales density per store type (2-D histogram, log colour)."""
    types = sorted(hist["StoreType"].unique())
    fig, axes = _figure(len(types), width=4.2, height=4, title="Q6  Customers vs sales per store type")
    pearson = table.set_index("StoreType")["pearson"]
    for ax, t in zip(axes, types, strict=False):
        g = hist[hist["StoreType"] == t]
        xs = np.unique(np.r_[g["customers_lo"], g["customers_hi"]])
        ys = np.unique(np.r_[g["sales_lo"], g["sales_hi"]])
        h = np.zeros((len(ys) - 1, len(xs) - 1))
        h[np.searchsorted(ys, g["sales_lo"]), np.searchsorted(xs, g["customers_lo"])] = g["count"]
        ax.pcolormesh(xs, ys, np.ma.masked_equal(h, 0), norm=LogNorm(), cmap="viridis")
        ax.set_title(f"type {t}: r = {pearson.get(t, np.nan):.2f}")
        ax.set_xlabel("customers")
    axes[0].set_ylabel("sales")
    return _done(fig, "customers_vs_sales")


def plot_assortment(table: pd.DataFrame) -> Figure:
    """Q7: store-level mean sales, customers and sales per customer by assortment."""
    overall = table[table["StoreType"] == "all"]
    fig, axes = _figure(3, width=4, title="Q7  Assortment (one value per store, mean ± s.e.)")
    for ax, m in zip(axes, ["Sales", "Customers", "SalesPerCustomer"], strict=False):
        ax.bar(overall["Assortment"], overall[f"{m}_mean"], yerr=overall[f"{m}_sem"].fillna(0),
               capsize=4, color=["#1f77b4", "#ff7f0e", "#2ca02c"][: len(overall)])
        ax.set_title(m)
        ax.set_xlabel("assortment")
    return _done(fig, "assortment")


def plot_competition(per_store: pd.DataFrame, dist_table: pd.DataFrame,
                     opening_profile: pd.DataFrame, city_centre_max_distance_m: float) -> Figure:
    """Q8: store sales vs competitor distance; sales around a competitor opening."""
    fig, (ax1, ax2, ax3) = _figure(3, width=4.6, title="Q8  Competition")
    for t, g in per_store.groupby("StoreType"):
        ax1.scatter(g["CompetitionDistance"], g["mean_sales"], s=6, alpha=0.6,
                    color=TYPE_COLOURS.get(t), label=f"type {t}")
    ax1.set_xscale("log")
    ax1.axvline(city_centre_max_distance_m, color="grey", ls="--", lw=0.8)
    ax1.set_xlabel("competitor distance, m (log)")
    ax1.set_ylabel("store mean daily sales")
    ax1.legend(fontsize=7)
    ax2.bar(range(len(dist_table)), dist_table["median_sales"])
    ax2.set_xticks(range(len(dist_table)), dist_table["distance_bin"], rotation=60, fontsize=7)
    ax2.set_title("median store sales by distance band")
    ax3.plot(opening_profile["weeks_from_opening"], opening_profile["rel_sales"], marker="o", ms=3)
    ax3.axvline(0, color="grey", lw=0.8)
    ax3.set_xlabel("weeks from competitor opening")
    ax3.set_title("sales / usual, season removed")
    return _done(fig, "competition")


def plot_correlation(corr: pd.DataFrame) -> Figure:
    """Q9: correlation heatmap with the coefficients written in."""
    m = corr.set_index("variable")
    fig, (ax,) = _figure(1, width=8, height=7, title="Q9  Correlation of numeric variables")
    im = ax.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(m.columns)), m.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(m.index)), m.index, fontsize=8)
    for i in range(len(m.index)):
        for j in range(len(m.columns)):
            ax.text(j, i, f"{m.iat[i, j]:.2f}", ha="center", va="center", fontsize=6.5)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _done(fig, "correlation")


def plot_sales_distributions(table: pd.DataFrame, hist: pd.DataFrame) -> Figure:
    """Q10: box plots (p5-p95 whiskers) of daily sales per factor level, plus a histogram."""
    factors = list(dict.fromkeys(table["factor"]))
    n = len(factors) + 1
    ncols = 4
    nrows = int(np.ceil(n / ncols))
    fig, axes = _figure(ncols, nrows, width=3.6, height=3.2, title="Q10  Daily sales distributions")
    ax = axes[0]
    ax.bar(hist["sales_lo"], hist["days"], width=hist["sales_hi"] - hist["sales_lo"], align="edge")
    ax.set_title("all trading days")
    ax.set_xlabel("sales")
    for ax, factor in zip(axes[1:], factors, strict=False):
        g = table[table["factor"] == factor]
        boxes = [{"label": r.level, "whislo": r.p5, "q1": r.q1, "med": r.median, "q3": r.q3,
                  "whishi": r.p95, "mean": r.mean, "fliers": []} for r in g.itertuples()]
        ax.bxp(boxes, showmeans=True, showfliers=False)
        ax.set_title(factor)
    for ax in axes[n:]:
        ax.set_visible(False)
    return _done(fig, "sales_distributions")
