"""Unit tests of eda nodes on tiny hand-made tables (exact answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.pipelines.eda import nodes
from rossmann_kedro.pipelines.eda.report import build_report  # noqa: F401  (import check)


def _sales(n_days: int = 70, stores: tuple[int, ...] = (1, 2)) -> pd.DataFrame:
    """sales_with_store-like rows: sales 100 (Mon-Sat), closed on Sundays, promo on even weeks."""
    days = pd.date_range("2014-01-06", periods=n_days, freq="D")  # starts on a Monday
    rows = []
    for s in stores:
        for d in days:
            dow = d.day_of_week + 1
            promo = int(dow <= 5 and (d.isocalendar().week % 2 == 0))
            open_ = int(dow != 7)
            sales = (150 if promo else 100) * open_
            rows.append({"Store": s, "DayOfWeek": dow, "Date": d, "Sales": sales,
                         "Customers": (120 if promo else 100) * open_ // 10, "Open": open_,
                         "Promo": promo, "StateHoliday": "0", "SchoolHoliday": 0,
                         "SalesOutlier": False, "StoreType": "a", "Assortment": "a",
                         "CompetitionDistance": 500.0, "CompetitionDistanceMissing": False,
                         "Promo2": 0})
    return pd.DataFrame(rows)


def test_trading_days_drop_closed_days_and_normalise() -> None:
    df = _sales()
    out = nodes.prepare_trading_days(df, {"min_sales": 1, "drop_outliers": False})
    assert (out["Sales"] > 0).all()
    assert len(out) == (df["Open"] == 1).sum()
    assert out["RelSales"].to_numpy() == pytest.approx(1.0)   # constant per store/weekday/promo


def test_promo_effect_matched_uplift_is_exact() -> None:
    tr = nodes.prepare_trading_days(_sales(), {"min_sales": 1, "drop_outliers": False})
    summary, by_group, by_store = nodes.promo_effect(tr, {"min_days_per_cell": 2, "top_n_stores": 1})
    assert summary["matched_uplift_pct"]["Sales"] == pytest.approx(50.0)
    assert summary["matched_uplift_pct"]["Customers"] == pytest.approx(20.0)
    assert summary["matched_uplift_pct"]["SalesPerCustomer"] == pytest.approx(25.0)
    assert set(by_store["Store"]) == {1, 2}


def test_closure_gap_found_and_reopening_spike_measured() -> None:
    df = _sales(n_days=84)
    gap = (df["Store"] == 1) & df["Date"].between("2014-02-03", "2014-02-16")   # two weeks
    after = (df["Store"] == 1) & df["Date"].between("2014-02-17", "2014-02-22")  # Mon-Sat
    df = df[~gap].copy()
    df.loc[after, "Sales"] *= 2
    tr = nodes.prepare_trading_days(df, {"min_sales": 1, "drop_outliers": False})
    params = {"min_closed_days": 5, "window_days": 7, "all_week_min_sunday_share": 0.5}
    summary, profile, closures, weekday = nodes.store_closures(tr, df, params)
    assert summary["closures"] == 1 and summary["closures_that_are_missing_rows"] == 1
    row = closures.iloc[0]
    assert row["Store"] == 1 and row["days"] == 15   # the closed Sunday before + 14 days without rows
    assert row["rel_sales_after"] > row["rel_sales_before"]
    assert summary["stores_open_all_week"] == 0


def test_promo_train_test_identical_calendars_are_similar() -> None:
    df = _sales()
    test = df[df["Date"] >= "2014-02-17"].drop(columns=["Sales", "Customers"])
    train = df[df["Date"] < "2014-02-17"]
    summary, by_weekday, per_store = nodes.compare_promo_train_test(
        train, test, {"max_cramers_v_similar": 0.05})
    assert summary["chi2_p_value"] > 0.05 and summary["similar"] is True
    assert by_weekday.loc[by_weekday["DayOfWeek"] == 6, "train_promo_share"].iloc[0] == 0


def test_holiday_window_profile_centres_on_the_holiday() -> None:
    df = _sales()
    hol = df["Date"] == pd.Timestamp("2014-01-22")      # a Wednesday, closed
    df.loc[hol, ["StateHoliday", "Open", "Sales", "Customers"]] = ["a", 0, 0, 0]
    before = df["Date"] == pd.Timestamp("2014-01-21")
    df.loc[before, "Sales"] *= 3
    tr = nodes.prepare_trading_days(df, {"min_sales": 1, "drop_outliers": False})
    summary, table = nodes.holiday_effects(
        tr, df, {"window_days": 3, "state_holiday_labels": {"a": "public"}})
    prof = table[table["event"] == "public"].set_index("offset_days")["mean_rel_sales"]
    assert np.isnan(prof[0])                    # closed on the day
    assert prof[-1] == prof.max() > 1.5         # the rush on the day before
    assert summary["public"]["events"] == 2 and summary["public"]["open_share_on_day"] == 0
