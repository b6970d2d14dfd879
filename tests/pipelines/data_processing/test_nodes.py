"""Unit tests of the data_processing nodes on small hand-made and synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.pipelines.data_processing import nodes
from rossmann_kedro.schemas import DataValidationError

OUTLIER_PARAMS = {"threshold": 5.0, "action": "flag"}


def _raw_train(n_days: int = 30, store: int = 1) -> pd.DataFrame:
    dates = pd.date_range("2015-01-05", periods=n_days, freq="D")
    rng = np.random.default_rng(0)
    sales = (5000 * np.exp(rng.normal(0, 0.05, n_days))).round().astype(int)
    df = pd.DataFrame({
        "Store": str(store), "DayOfWeek": (dates.day_of_week + 1).astype(str), "Date": dates.strftime("%Y-%m-%d"),
        "Sales": sales.astype(str), "Customers": "500", "Open": "1", "Promo": "0",
        "StateHoliday": "0", "SchoolHoliday": "0",
    })
    df.attrs["source"] = "data/01_raw/train.csv"
    return df


def test_validate_train_fixes_types_and_state_holiday_spellings() -> None:
    raw = _raw_train()
    raw["StateHoliday"] = raw["StateHoliday"].astype(object)
    raw.loc[0, "StateHoliday"] = "a"
    raw.loc[1, "StateHoliday"] = 0  # the real file mixes 0 and "0"
    raw.loc[2, "StateHoliday"] = '"0"'
    out = nodes.validate_train(raw)
    assert str(out["Date"].dtype) == "datetime64[ns]"
    assert out["Sales"].dtype == "int64"
    assert set(out["StateHoliday"]) == {"0", "a"}
    assert out["Date"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("Sales", "-5", r"column 'Sales'.*greater_than_or_equal_to\(0\).*line 5"),
        ("Sales", "lots", r"column 'Sales': type failed.*line 5 \('lots'\)"),
        ("Date", "2015-02-30", r"column 'Date': type failed.*line 5 \('2015-02-30'\)"),
        ("Open", "2", r"column 'Open'.*isin.*line 5"),
        ("StateHoliday", "x", r"column 'StateHoliday'.*isin.*line 5 \('x'\)"),
        ("DayOfWeek", "9", r"column 'DayOfWeek'.*in_range.*line 5"),
    ],
)
def test_bad_train_value_names_file_column_and_line(column: str, value: str, expected: str) -> None:
    raw = _raw_train()
    raw.loc[3, column] = value
    with pytest.raises(DataValidationError, match=r"(?s)data/01_raw/train\.csv.*" + expected):
        nodes.validate_train(raw)


def test_day_of_week_inconsistent_with_date_is_rejected() -> None:
    raw = _raw_train()
    raw.loc[4, "DayOfWeek"] = str(int(raw.loc[4, "DayOfWeek"]) % 7 + 1)
    with pytest.raises(DataValidationError, match=r"DayOfWeek matches Date failed on 1 row.*line 6"):
        nodes.validate_train(raw)


def test_duplicate_store_date_is_rejected() -> None:
    raw = pd.concat([_raw_train(), _raw_train().iloc[[3]]], ignore_index=True)
    raw.attrs["source"] = "train.csv"
    with pytest.raises(DataValidationError, match=r"\(Store, Date\) must be unique: 2 duplicated"):
        nodes.validate_train(raw)


def test_missing_column_is_named() -> None:
    raw = _raw_train().drop(columns="Customers")
    with pytest.raises(DataValidationError, match=r"column 'Customers' is missing"):
        nodes.validate_train(raw)


def test_store_fill_rules(small_raw_tables) -> None:
    store = nodes.validate_store(small_raw_tables["store"])
    store.loc[0, "CompetitionDistance"] = np.nan
    filled = nodes.fill_store_missing(store, {"competition_distance_fill": 100000})
    assert filled.loc[0, "CompetitionDistance"] == 100000
    assert bool(filled.loc[0, "CompetitionDistanceMissing"])
    assert not filled[["CompetitionOpenSinceMonth", "CompetitionOpenSinceYear", "Promo2SinceWeek",
                       "Promo2SinceYear"]].isna().any().any()
    no_promo2 = filled["Promo2"] == 0
    assert (filled.loc[no_promo2, "PromoInterval"] == "").all()
    assert (filled.loc[no_promo2, "Promo2SinceYear"] == 0).all()
    assert (filled.loc[~no_promo2, "PromoInterval"] != "").all()


def test_test_open_filled_from_weekday_habit() -> None:
    train = nodes.validate_train(_raw_train(n_days=28))
    train.loc[train["DayOfWeek"] == 7, ["Open", "Sales"]] = 0
    test = pd.DataFrame({
        "Id": [1, 2], "Store": [1, 1], "DayOfWeek": [1, 7], "Date": pd.to_datetime(["2015-02-09", "2015-02-15"]),
        "Open": pd.array([pd.NA, pd.NA], dtype="Int64"), "Promo": [0, 0], "StateHoliday": ["0", "0"],
        "SchoolHoliday": [0, 0],
    })
    out = nodes.fill_test_open(test, train)
    assert out["Open"].tolist() == [1, 0]
    assert out["Open"].dtype == "int64"


@pytest.mark.parametrize("action", ["flag", "cap", "drop"])
def test_outliers_detected_per_store_and_handled_by_rule(action: str) -> None:
    train = nodes.validate_train(_raw_train(n_days=60))
    train.loc[10, "Sales"] = 60000  # a 12x spike
    train.loc[20, "Sales"] = 0  # open day with zero sales
    out, report = nodes.flag_sales_outliers(train, {"threshold": 5.0, "action": action})
    assert set(report["Date"]) == {train.loc[10, "Date"], train.loc[20, "Date"]}
    assert set(report["kind"]) == {"high", "zero_sales_open"}
    if action == "flag":
        assert len(out) == len(train) and out["SalesOutlier"].sum() == 2
    elif action == "cap":
        assert 5000 < out.loc[10, "Sales"] < 60000
    else:
        assert len(out) == len(train) - 2
    summary = nodes.summarise_outliers(report, {"threshold": 5.0, "action": action})
    assert summary["total"] == 2 and summary["by_kind"] == {"high": 1, "zero_sales_open": 1}


def test_outlier_action_must_be_known() -> None:
    train = nodes.validate_train(_raw_train())
    with pytest.raises(ValueError, match="flag, cap or drop"):
        nodes.flag_sales_outliers(train, {"threshold": 5.0, "action": "delete"})


def test_unknown_store_in_train_is_an_error(small_raw_tables) -> None:
    train = nodes.validate_train(small_raw_tables["train"])
    store = nodes.validate_store(small_raw_tables["store"])
    test = nodes.validate_test(small_raw_tables["test"])
    summary = nodes.check_store_coverage(train, store, test)
    assert summary["stores"] == store["Store"].nunique()
    with pytest.raises(DataValidationError, match=r"train\.csv: column 'Store': 1 store\(s\) not in store\.csv"):
        nodes.check_store_coverage(train, store[store["Store"] != train["Store"].iloc[0]], test)


def test_missing_values_report_counts_per_column(small_raw_tables) -> None:
    store = nodes.validate_store(small_raw_tables["store"])
    test = nodes.validate_test(small_raw_tables["test"])
    train = nodes.validate_train(small_raw_tables["train"])
    report = nodes.report_missing_values(train, store, test)
    assert report["store"]["missing"].get("Promo2SinceWeek", 0) == int((store["Promo2"] == 0).sum())
    assert report["train"]["missing"] == {}


def test_merge_keeps_rows_and_adds_store_columns(small_raw_tables) -> None:
    store = nodes.fill_store_missing(nodes.validate_store(small_raw_tables["store"]), {"competition_distance_fill": 1e5})
    train = nodes.validate_train(small_raw_tables["train"])
    merged = nodes.merge_store_attributes(train, store)
    assert len(merged) == len(train)
    assert {"StoreType", "Assortment", "CompetitionDistance", "PromoInterval"} <= set(merged.columns)
    assert merged["StoreType"].notna().all()
