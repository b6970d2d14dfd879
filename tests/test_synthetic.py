"""Tests of the seeded synthetic Rossmann generator: Kaggle format, determinism, the structural
quirks of the real data, CSV style, idempotent generation, and that planted effects are
recoverable from the data."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro import synthetic
from rossmann_kedro.synthetic import (
    MARKER_NAME,
    PLANTED_EFFECTS,
    STORE_COLUMNS,
    TEST_COLUMNS,
    TRAIN_COLUMNS,
    easter_sunday,
    ensure_synthetic_csvs,
    generate,
    generate_with_truth,
    write_csvs,
)

REAL_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "rossmann"
READ_DTYPES = {"StateHoliday": "str"}


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """One medium-sized data set (fast: ~0.1 s) shared by the structural tests."""
    return generate_with_truth(n_stores=150, seed=7)


@pytest.fixture(scope="module")
def train(data) -> pd.DataFrame:
    return data[0]["train"]


@pytest.fixture(scope="module")
def store(data) -> pd.DataFrame:
    return data[0]["store"]


@pytest.fixture(scope="module")
def test_df(data) -> pd.DataFrame:
    return data[0]["test"]


@pytest.fixture(scope="module")
def truth(data) -> pd.DataFrame:
    return data[1]


# --- schema ---------------------------------------------------------------------------------
def test_columns_and_dtypes_match_kaggle(train, store, test_df):
    assert list(train.columns) == TRAIN_COLUMNS
    assert list(store.columns) == STORE_COLUMNS
    assert list(test_df.columns) == TEST_COLUMNS
    for col in ("Store", "DayOfWeek", "Sales", "Customers", "Open", "Promo", "SchoolHoliday"):
        assert train[col].dtype == np.int64, col
    for col in ("CompetitionDistance", "CompetitionOpenSinceMonth", "Promo2SinceYear"):
        assert store[col].dtype == np.float64, col
    assert test_df["Open"].dtype == np.float64
    assert pd.api.types.is_string_dtype(train["Date"])
    assert pd.api.types.is_string_dtype(train["StateHoliday"])
    assert train["Date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert set(train["StateHoliday"]) == {"0", "a", "b", "c"}
    assert set(train["SchoolHoliday"]) == {0, 1}
    assert set(train["Open"]) == {0, 1} and set(train["Promo"]) == {0, 1}


def test_day_of_week_is_monday_one(train, test_df):
    for df in (train, test_df):
        dow = pd.to_datetime(df["Date"]).dt.day_of_week + 1
        assert (dow.to_numpy() == df["DayOfWeek"].to_numpy()).all()


def test_sorted_like_real_files_and_unique(train, test_df):
    for df in (train, test_df):
        expected = df.sort_values(["Date", "Store"], ascending=[False, True])
        assert df.index.equals(expected.index)
        assert not df.duplicated(["Store", "Date"]).any()
    assert (test_df["Id"].to_numpy() == np.arange(1, len(test_df) + 1)).all()


def test_test_period_follows_train_for_a_store_subset(train, test_df, store):
    assert train["Date"].min() == "2013-01-01" and train["Date"].max() == "2015-06-19"
    days = pd.date_range("2015-06-20", periods=48).strftime("%Y-%m-%d")
    assert sorted(test_df["Date"].unique()) == list(days)
    n_test = test_df["Store"].nunique()
    assert 0.65 * len(store) <= n_test <= 0.85 * len(store)
    assert (test_df.groupby("Store").size() == 48).all()
    assert 0.3 <= test_df["Promo"].mean() <= 0.5


# --- determinism ----------------------------------------------------------------------------
def test_deterministic_per_seed_and_different_across_seeds():
    a = generate(n_stores=12, seed=3)
    b = generate(n_stores=12, seed=3)
    c = generate(n_stores=12, seed=4)
    for name in ("train", "store", "test"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["train"]["Sales"].equals(c["train"]["Sales"])
    assert not a["store"].equals(c["store"])


# --- structure of the real data -------------------------------------------------------------
def test_store_types_and_assortments(store):
    assert set(store["StoreType"]) == {"a", "b", "c", "d"}
    assert set(store["Assortment"]) == {"a", "b", "c"}
    assert (store.loc[store["Assortment"] == "b", "StoreType"] == "b").all()
    assert (store["StoreType"] == "b").mean() < 0.06
    assert (store["StoreType"] == "a").mean() > 0.4
    assert (store["Store"].to_numpy() == np.arange(1, len(store) + 1)).all()


def test_type_b_stores_open_on_sundays_with_many_customers(train, store, truth):
    sundays = train[train["DayOfWeek"] == 7]
    open_share = sundays.groupby("Store")["Open"].mean()
    sunday_stores = set(open_share[open_share > 0.5].index)
    b_stores = set(store.loc[store["StoreType"] == "b", "Store"])
    assert b_stores <= sunday_stores
    assert sunday_stores == set(truth.loc[truth["SundayOpen"], "Store"])
    assert len(sunday_stores) < 0.1 * len(store)                 # almost all closed
    assert (open_share[~open_share.index.isin(sunday_stores)] == 0).all()
    opened = train[train["Open"] == 1].merge(store[["Store", "StoreType"]], on="Store")
    by_type = opened.groupby("StoreType")[["Sales", "Customers"]].mean()
    spc = by_type["Sales"] / by_type["Customers"]
    assert by_type["Customers"].idxmax() == "b" and spc.idxmin() == "b"


def test_weekly_pattern_monday_high_saturday_low(train):
    opened = train[(train["Open"] == 1) & (train["DayOfWeek"] < 7)]
    by_dow = opened.groupby("DayOfWeek")["Sales"].mean()
    assert by_dow.idxmax() == 1 and by_dow.idxmin() == 6


def test_levels_calibrated_to_real_data():
    train = generate(n_stores=400, seed=11)["train"]
    opened = train[(train["Open"] == 1) & (train["Sales"] > 0)]
    assert 5_800 <= opened["Sales"].mean() <= 7_500
    assert 650 <= opened["Customers"].mean() <= 850
    assert 8.5 <= (opened["Sales"] / opened["Customers"]).mean() <= 10.5
    assert np.corrcoef(opened["Sales"], opened["Customers"])[0, 1] > 0.8


def test_promo_calendar_shared_by_all_stores_weekdays_only(train):
    assert (train.loc[train["DayOfWeek"] >= 6, "Promo"] == 0).all()
    per_day = train.groupby("Date")["Promo"].nunique()
    assert (per_day == 1).all()
    weekday = train[train["DayOfWeek"] <= 5]
    assert 0.45 <= weekday["Promo"].mean() <= 0.65
    assert 0.3 <= train["Promo"].mean() <= 0.45


def test_easter_dates():
    assert easter_sunday(2013) == date(2013, 3, 31)
    assert easter_sunday(2014) == date(2014, 4, 20)
    assert easter_sunday(2015) == date(2015, 4, 5)
    assert easter_sunday(2019) == date(2019, 4, 21)
    assert easter_sunday(2024) == date(2024, 3, 31)


def test_state_holidays_by_kind_and_state(train, truth):
    hol = train.groupby(["Date", "StateHoliday"])["Store"].nunique()
    n = len(truth)
    # National holidays: every store (present that day) has them; same dates as the real file.
    for day, code in [("2013-03-29", "b"), ("2013-04-01", "b"), ("2013-05-01", "a"),
                      ("2013-05-09", "a"), ("2013-10-03", "a"), ("2013-12-25", "c"),
                      ("2013-12-26", "c"), ("2015-04-06", "b")]:
        assert hol.get((day, code), 0) == n, day
    # Regional: Corpus Christi 2013-05-30 only in BW, BY, HE, NW, RP.
    cc = train[(train["Date"] == "2013-05-30") & (train["StateHoliday"] == "a")]
    states = set(truth.set_index("Store").loc[cc["Store"], "State"])
    assert states and states <= {"BW", "BY", "HE", "NW", "RP"}
    assert 0 < cc["Store"].nunique() < n
    # Stores are mostly closed on state holidays.
    assert train.loc[train["StateHoliday"] != "0", "Open"].mean() < 0.1


def test_school_holidays_in_state_blocks(train, truth):
    share = train["SchoolHoliday"].mean()
    assert 0.12 <= share <= 0.3
    # Same state -> same school-holiday days.
    states = truth.set_index("Store")["State"]
    t = train.assign(State=train["Store"].map(states))
    assert (t.groupby(["State", "Date"])["SchoolHoliday"].nunique() == 1).all()
    # Summer break: one block of ~6 weeks between mid-June and mid-September in every state.
    one_store = t.drop_duplicates(["State", "Date"]).sort_values("Date")
    for state, g in one_store.groupby("State"):
        g = g[g["Date"].between("2013-06-01", "2013-09-30")]  # before the refurbishment gap
        flags = g["SchoolHoliday"].to_numpy()
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, flags, 0])))[::2]
        assert runs.max() >= 40, state


def test_refurbishment_gap(train, truth):
    window = train["Date"].between("2014-07-01", "2014-12-31")
    in_window = set(train.loc[window, "Store"])
    gap = set(truth["Store"]) - in_window
    assert gap == set(truth.loc[truth["Refurbished"], "Store"])
    assert abs(len(gap) / len(truth) - 0.15) < 0.02
    # Those stores have rows before and after the gap.
    assert gap <= set(train.loc[train["Date"] < "2014-07-01", "Store"])
    assert gap <= set(train.loc[train["Date"] > "2014-12-31", "Store"])


def test_no_refurbishment_gap_when_window_outside_range():
    train = generate(n_stores=20, start="2015-01-01", seed=1)["train"]
    assert (train.groupby("Store").size() == train["Date"].nunique()).all()


def test_missing_values_like_real_store_file(store):
    assert store["CompetitionDistance"].isna().sum() >= 1
    since_na = store["CompetitionOpenSinceMonth"].isna()
    assert since_na.equals(store["CompetitionOpenSinceYear"].isna())
    assert 0.2 <= since_na.mean() <= 0.4
    assert since_na[store["CompetitionDistance"].isna()].all()
    no_p2 = store["Promo2"] == 0
    for col in ("Promo2SinceWeek", "Promo2SinceYear", "PromoInterval"):
        assert store[col].isna().equals(no_p2), col
    assert 0.35 <= store["Promo2"].mean() <= 0.65
    assert set(store["PromoInterval"].dropna()) == set(synthetic.PROMO_INTERVALS)
    dist = store["CompetitionDistance"].dropna()
    assert dist.min() >= 20 and dist.max() > 10_000 and dist.median() < 5_000


def test_closed_days_have_zero_sales_and_some_open_days_too(train):
    closed = train[train["Open"] == 0]
    assert (closed["Sales"] == 0).all() and (closed["Customers"] == 0).all()
    zero_open = train[(train["Open"] == 1) & (train["Sales"] == 0)]
    assert 1 <= len(zero_open) <= 0.001 * (train["Open"] == 1).sum()


def test_test_open_missing_for_one_store(test_df, truth):
    missing = test_df[test_df["Open"].isna()]
    assert 1 <= len(missing) <= 11
    assert missing["Store"].nunique() == 1
    assert missing["Store"].iloc[0] == truth.loc[truth["TestOpenMissing"], "Store"].item()
    assert set(test_df["Open"].dropna()) <= {0.0, 1.0}


def test_competitor_openings_inside_train_period(store, truth):
    openers = truth.dropna(subset=["CompetitorOpening"])
    assert len(openers) >= 2
    s = store.set_index("Store").loc[openers["Store"]]
    since = pd.to_datetime(dict(year=s["CompetitionOpenSinceYear"].astype(int),
                                month=s["CompetitionOpenSinceMonth"].astype(int), day=1))
    assert (since.to_numpy() == openers["CompetitorOpening"].to_numpy()).all()
    assert since.between("2013-01-01", "2015-06-19").all()


def test_small_and_odd_sizes_work():
    for n in (1, 2, 5):
        tables = generate(n_stores=n, test_days=3, seed=n)
        assert len(tables["store"]) == n
        assert tables["test"]["Store"].nunique() >= 1
    with pytest.raises(ValueError):
        generate(n_stores=0)
    with pytest.raises(ValueError):
        generate(start="2015-01-01", train_end="2014-01-01")


# --- planted effects are recoverable --------------------------------------------------------
def _regular_open(train: pd.DataFrame) -> pd.DataFrame:
    return train[(train["Open"] == 1) & (train["Sales"] > 0) & (train["StateHoliday"] == "0")
                 & (train["DayOfWeek"] <= 5)]


def test_planted_promo_effect_is_recovered(train):
    df = _regular_open(train)
    sales = df.groupby("Promo")["Sales"].mean()
    cust = df.groupby("Promo")["Customers"].mean()
    assert sales[1] / sales[0] == pytest.approx(1 + PLANTED_EFFECTS["promo_sales_uplift"], abs=0.06)
    assert cust[1] / cust[0] == pytest.approx(1 + PLANTED_EFFECTS["promo_customers_uplift"],
                                              abs=0.05)


def test_planted_christmas_and_easter_effects(train):
    df = _regular_open(train)
    # Take the (separately tested) promo effect out so that promo weeks don't blur the picture.
    sales = df["Sales"] / np.where(df["Promo"] == 1, 1 + PLANTED_EFFECTS["promo_sales_uplift"], 1)
    dates = pd.to_datetime(df["Date"])
    nov = sales[dates.dt.month == 11].mean()
    xmas = sales[(dates.dt.month == 12) & dates.dt.day.between(17, 23)].mean()
    expected = (1 + PLANTED_EFFECTS["christmas_week_uplift"])
    assert xmas / nov == pytest.approx(expected, rel=0.1)
    for year in (2013, 2014, 2015):
        easter = pd.Timestamp(easter_sunday(year))
        holy = sales[dates.between(easter - pd.Timedelta(days=6), easter - pd.Timedelta(days=3))]
        before = sales[dates.between(easter - pd.Timedelta(days=34),
                                     easter - pd.Timedelta(days=14))]
        ratio = holy.mean() / before.mean()
        assert ratio == pytest.approx(1 + PLANTED_EFFECTS["easter_uplift"], abs=0.08), year


def test_planted_competition_opening_drop_is_recovered(train, truth):
    """Difference in differences: openers' after/before ratio relative to the other stores."""
    df = train[(train["Open"] == 1) & (train["Sales"] > 0)]
    daily_all = df.groupby("Date")["Sales"].mean()
    ratios = []
    for s, when in truth.dropna(subset=["CompetitorOpening"])[["Store", "CompetitorOpening"]] \
            .itertuples(index=False):
        mine = df[df["Store"] == s].set_index("Date")["Sales"]
        d = pd.to_datetime(mine.index)
        before = (d >= when - pd.Timedelta(days=90)) & (d < when)
        after = (d >= when) & (d < when + pd.Timedelta(days=90))
        if before.sum() < 30 or after.sum() < 30:
            continue
        rel = mine / daily_all.loc[mine.index]
        ratios.append(rel[after].mean() / rel[before].mean())
    assert len(ratios) >= 3
    drop = 1 - float(np.mean(ratios))
    assert drop == pytest.approx(PLANTED_EFFECTS["competition_opening_drop"], abs=0.05)


def test_close_competitors_lower_sales(data):
    tables, truth = generate_with_truth(n_stores=400, seed=5)
    df = tables["train"]
    per_store = df[df["Open"] == 1].groupby("Store")["Sales"].mean()
    # Remove the store's own hidden level to see the planted distance effect.
    t = truth.set_index("Store")
    level = per_store / (t["BaseCustomers"] * t["BaseSalesPerCustomer"]).loc[per_store.index]
    dist = tables["store"].set_index("Store")["CompetitionDistance"].loc[per_store.index]
    near, far = level[dist < 300].mean(), level[dist > 10_000].mean()
    assert near < far * 0.97


# --- CSV output -----------------------------------------------------------------------------
TRAIN_LINE = re.compile(r'^\d+,[1-7],\d{4}-\d\d-\d\d,\d+,\d+,[01],[01],"[0abc]","[01]"$')
TEST_LINE = re.compile(r'^\d+,\d+,[1-7],\d{4}-\d\d-\d\d,[01]?,[01],"[0abc]","[01]"$')


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate(n_stores=30, seed=9)


def test_written_csv_round_trips(tmp_path, small):
    paths = write_csvs(tmp_path, tables=small)
    assert {p.name for p in paths.values()} == {"train.csv", "store.csv", "test.csv"}
    for name, path in paths.items():
        back = pd.read_csv(path, dtype=READ_DTYPES if name != "store" else None)
        pd.testing.assert_frame_equal(back, small[name], check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp"))


def test_written_csv_quoting_matches_real_style(tmp_path, small):
    paths = write_csvs(tmp_path, tables=small)
    train_lines = paths["train"].read_text().splitlines()
    assert train_lines[0] == ",".join(f'"{c}"' for c in TRAIN_COLUMNS)
    assert all(TRAIN_LINE.match(line) for line in train_lines[1:])
    test_lines = paths["test"].read_text().splitlines()
    assert all(TEST_LINE.match(line) for line in test_lines[1:])
    assert any(re.search(r"^\d+,\d+,[1-7],[\d-]+,,", line) for line in test_lines)  # Open NaN
    store_lines = paths["store"].read_text().splitlines()
    assert any(line.endswith(',0,,,""') for line in store_lines)
    assert any(line.endswith(',"Jan,Apr,Jul,Oct"') for line in store_lines)
    assert all(re.match(r'^\d+,"[abcd]","[abc]",\d*,\d*,\d*,[01],', line)
               for line in store_lines[1:])


def test_header_identical_to_real_files(tmp_path, small):
    if not REAL_DIR.is_dir():
        pytest.skip("real Rossmann data not available")
    paths = write_csvs(tmp_path, tables=small)
    for name, path in paths.items():
        with gzip.open(REAL_DIR / f"{name}.csv.gz", "rt") as fh:
            real_header, real_first = fh.readline(), fh.readline()
        mine = path.read_text().splitlines()
        assert mine[0] == real_header.rstrip("\n"), name
        # Same quoting pattern field by field: quoted in one file <=> quoted in the other.
        assert [f.startswith('"') for f in real_first.rstrip("\n").split(",")][:3] == \
            [f.startswith('"') for f in mine[1].split(",")][:3]


def test_gzip_output_is_deterministic_and_readable(tmp_path, small):
    a = write_csvs(tmp_path / "a", tables=small, gzip=True)
    b = write_csvs(tmp_path / "b", tables=small, gzip=True)
    for name in a:
        assert a[name].name.endswith(".csv.gz")
        assert a[name].read_bytes() == b[name].read_bytes()
    back = pd.read_csv(a["train"], dtype=READ_DTYPES)
    pd.testing.assert_frame_equal(back, small["train"], check_dtype=False)


# --- ensure_synthetic_csvs ------------------------------------------------------------------
def _stamp(d: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in d.glob("*.csv")}


def test_ensure_regenerates_only_on_parameter_change(tmp_path):
    out = tmp_path / "synthetic"
    assert ensure_synthetic_csvs(out, n_stores=8, seed=1) == out
    first = _stamp(out)
    assert set(first) == {"train.csv", "store.csv", "test.csv"}
    marker = json.loads((out / MARKER_NAME).read_text())
    assert marker["params"]["n_stores"] == 8 and marker["params"]["seed"] == 1
    assert marker["params"]["train_end"] == "2015-06-19"      # defaults are recorded

    ensure_synthetic_csvs(out, n_stores=8, seed=1)
    assert _stamp(out) == first                                 # untouched

    ensure_synthetic_csvs(out, n_stores=8, seed=2)
    assert _stamp(out) != first
    assert json.loads((out / MARKER_NAME).read_text())["params"]["seed"] == 2
    expected = generate(n_stores=8, seed=2)["store"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "store.csv"), expected, check_dtype=False)

    (out / "test.csv").unlink()                                 # a missing file -> regenerate
    ensure_synthetic_csvs(out, n_stores=8, seed=2)
    assert (out / "test.csv").is_file()


def test_ensure_treats_explicit_defaults_as_equal(tmp_path):
    ensure_synthetic_csvs(tmp_path, n_stores=4)
    before = _stamp(tmp_path)
    ensure_synthetic_csvs(tmp_path, n_stores=4, seed=42, start="2013-01-01", test_days=48)
    assert _stamp(tmp_path) == before


def test_ensure_accepts_yaml_style_values(tmp_path):
    ensure_synthetic_csvs(tmp_path, n_stores=4, start=date(2014, 1, 1))
    before = _stamp(tmp_path)
    ensure_synthetic_csvs(tmp_path, n_stores="4", start="2014-01-01")
    assert _stamp(tmp_path) == before
    with pytest.raises(TypeError):
        ensure_synthetic_csvs(tmp_path, n_shops=4)


def test_ensure_concurrent_callers_get_consistent_files(tmp_path):
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: ensure_synthetic_csvs(tmp_path, n_stores=6, seed=3), range(4)))
    expected = generate(n_stores=6, seed=3)
    back = pd.read_csv(tmp_path / "train.csv", dtype=READ_DTYPES)
    pd.testing.assert_frame_equal(back, expected["train"], check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp"))


def test_raw_dataset_loads_synthetic_default(tmp_path):
    from rossmann_kedro.datasets import RossmannRawDataset

    ds = RossmannRawDataset(table="train", raw_dir=str(tmp_path),
                            synthetic={"n_stores": 5, "seed": 42})
    df = ds.load()
    assert list(df.columns) == TRAIN_COLUMNS and df["Store"].nunique() == 5
    assert (tmp_path / "synthetic" / MARKER_NAME).is_file()


# --- CLI ------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rossmann_kedro.synthetic", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_files(tmp_path):
    res = _cli("--out", str(tmp_path), "--stores", "7", "--seed", "5", "--test-days", "10",
               "--start", "2014-06-01", "--train-end", "2015-01-31", "--gzip")
    assert res.returncode == 0, res.stderr
    assert "train.csv.gz" in res.stdout and "rows" in res.stdout
    test = pd.read_csv(tmp_path / "test.csv.gz")
    assert test["Date"].min() == "2015-02-01" and test["Date"].nunique() == 10
    expected = generate(n_stores=7, seed=5, test_days=10, start="2014-06-01",
                        train_end="2015-01-31")
    back = pd.read_csv(tmp_path / "train.csv.gz", dtype=READ_DTYPES)
    pd.testing.assert_frame_equal(back, expected["train"], check_dtype=False)


def test_cli_help_and_bad_arguments(tmp_path):
    res = _cli("--help")
    assert res.returncode == 0 and "--stores" in res.stdout and "--gzip" in res.stdout
    res = _cli("--out", str(tmp_path), "--start", "2015-01-01", "--train-end", "2014-01-01")
    assert res.returncode == 2 and "before start" in res.stderr


# --- partitioned output for large chains ----------------------------------------------------
@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("chain")
    return out, synthetic.write_partitioned(out, n_stores=90, seed=5, stores_per_partition=40)


def test_partitioned_files_hold_whole_consecutive_stores(chain):
    out, desc = chain
    files = sorted((out / "train").glob("part-*.parquet"))
    assert [p["file"] for p in desc["partitions"]] == [f.name for f in files]
    assert len(files) == 3  # 40 + 40 + 10 stores
    seen: set[int] = set()
    for part, f in zip(desc["partitions"], files, strict=True):
        stores = set(pd.read_parquet(f, columns=["Store"])["Store"])
        assert stores == set(range(part["first_store"], part["last_store"] + 1))
        assert not stores & seen
        seen |= stores
    assert seen == set(range(1, 91))
    assert sum(p["rows"] for p in desc["partitions"]) == desc["rows"]["train"]


def test_partitioned_tables_are_consistent_and_kaggle_shaped(chain):
    out, _ = chain
    train = pd.concat([pd.read_parquet(f) for f in sorted((out / "train").glob("*.parquet"))])
    store = pd.read_csv(out / "store.csv")
    test = pd.read_csv(out / "test.csv", dtype={"StateHoliday": str})
    assert list(train.columns) == synthetic.TRAIN_COLUMNS
    assert list(test.columns) == synthetic.TEST_COLUMNS
    assert set(test["Store"]) <= set(store["Store"]) and set(train["Store"]) == set(store["Store"])
    assert test["Id"].tolist() == list(range(1, len(test) + 1))
    assert test["Date"].is_monotonic_decreasing
    assert test["Open"].isna().sum() == 11 and test.loc[test["Open"].isna(), "Store"].nunique() == 1
    assert not train.duplicated(["Store", "Date"]).any()
    # the planted promo effect holds in the chunked simulation too
    open_ = train.loc[(train["Open"] == 1) & (train["Sales"] > 0)]
    cell = open_.groupby(["Store", "DayOfWeek", "Promo"])["Sales"].median().unstack("Promo")
    uplift = float(np.exp(np.log(cell[1] / cell[0]).dropna().median()))
    assert uplift == pytest.approx(1 + synthetic.PLANTED_EFFECTS["promo_sales_uplift"], abs=0.05)


def test_partitioned_is_deterministic_and_regenerated_only_when_asked(tmp_path, chain):
    out, desc = chain
    again = synthetic.write_partitioned(tmp_path / "again", n_stores=90, seed=5,
                                        stores_per_partition=40)
    for part in desc["partitions"]:
        a = pd.read_parquet(out / "train" / part["file"])
        b = pd.read_parquet(tmp_path / "again" / "train" / part["file"])
        pd.testing.assert_frame_equal(a, b)
    assert again["rows"] == desc["rows"]
    marker = tmp_path / "again" / synthetic.PARTITIONED_MARKER
    mtime = marker.stat().st_mtime_ns
    synthetic.ensure_partitioned(tmp_path / "again", n_stores=90, seed=5, stores_per_partition=40)
    assert marker.stat().st_mtime_ns == mtime  # up to date: nothing rewritten
    synthetic.ensure_partitioned(tmp_path / "again", n_stores=30, seed=5, stores_per_partition=40)
    assert sorted(p.name for p in (tmp_path / "again" / "train").iterdir()) == ["part-00000.parquet"]


def test_partitioned_cli(tmp_path):
    res = subprocess.run([sys.executable, "-m", "rossmann_kedro.synthetic", "--out",
                          str(tmp_path), "--stores", "12", "--partitioned",
                          "--stores-per-partition", "5"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "in 3 Parquet files" in res.stdout
    assert len(list((tmp_path / "train").glob("*.parquet"))) == 3
    bad = subprocess.run([sys.executable, "-m", "rossmann_kedro.synthetic", "--out",
                          str(tmp_path), "--partitioned", "--gzip"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--gzip" in bad.stderr
