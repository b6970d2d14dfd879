"""The whole data_processing pipeline through real Kedro sessions: synthetic, bad input, real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rossmann_kedro.schemas import DataValidationError
from rossmann_kedro.workspace import make_workspace, run_pipeline


def _write_raw(raw_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        df.to_csv(raw_dir / f"{name}.csv", index=False)


def test_pipeline_on_synthetic_default(tmp_path: Path) -> None:
    """An empty data/01_raw runs on the synthetic default and writes every output layer."""
    ws = make_workspace(tmp_path / "ws")
    run_pipeline(ws, "data_processing")
    sales = pd.read_parquet(ws / "data/03_primary/sales_with_store.parquet")
    test = pd.read_parquet(ws / "data/03_primary/test_with_store.parquet")
    stores = pd.read_parquet(ws / "data/02_intermediate/stores_clean.parquet")
    raw_train = pd.read_csv(ws / "data/01_raw/synthetic/train.csv")
    assert len(sales) == len(raw_train)
    assert not sales.duplicated(["Store", "Date"]).any()
    assert set(sales["StateHoliday"]) <= {"0", "a", "b", "c"}
    assert test["Open"].notna().all() and test["Open"].isin([0, 1]).all()
    assert not stores[["CompetitionDistance", "CompetitionOpenSinceYear", "Promo2SinceYear"]].isna().any().any()
    assert "SalesOutlier" in sales
    report = json.loads((ws / "data/08_reporting/missing_values.json").read_text())
    assert report["test"]["missing"].get("Open", 0) > 0  # the generator plants store-622-style gaps
    assert (ws / "data/08_reporting/outlier_summary.json").is_file()


def test_bad_file_fails_the_run_and_writes_nothing_downstream(tmp_path: Path, small_raw_tables) -> None:
    ws = make_workspace(tmp_path / "ws")
    tables = {k: v.copy() for k, v in small_raw_tables.items()}
    tables["train"].loc[7, "Sales"] = -1
    tables["train"].loc[9, "Open"] = 5
    _write_raw(ws / "data/01_raw", tables)
    with pytest.raises(DataValidationError) as info:
        run_pipeline(ws, "data_processing")
    message = str(info.value)
    assert "data/01_raw/train.csv" in message
    assert "column 'Sales'" in message and "line 9" in message
    assert "column 'Open'" in message and "line 11" in message
    assert not (ws / "data/02_intermediate/sales_clean.parquet").exists()
    assert not (ws / "data/03_primary/sales_with_store.parquet").exists()


def test_partial_raw_folder_is_rejected(tmp_path: Path, small_raw_tables) -> None:
    ws = make_workspace(tmp_path / "ws")
    _write_raw(ws / "data/01_raw", {"train": small_raw_tables["train"]})
    with pytest.raises(Exception, match=r"not store\.csv, test\.csv"):
        run_pipeline(ws, "data_processing")


@pytest.mark.real_data
def test_real_data_quirks_are_handled(tmp_path: Path, real_data_dir: Path) -> None:
    ws = make_workspace(tmp_path / "ws", raw_files=sorted(real_data_dir.glob("*.csv.gz")))
    run_pipeline(ws, "data_processing")
    sales = pd.read_parquet(ws / "data/03_primary/sales_with_store.parquet")
    test = pd.read_parquet(ws / "data/03_primary/test_with_store.parquet")
    assert len(sales) == 970_379
    assert sales["Store"].nunique() == 1115
    assert sorted(sales["StateHoliday"].unique()) == ["0", "a", "b", "c"]
    assert sales["Date"].max() == pd.Timestamp("2015-06-19")
    assert len(test) == 41_088 and test["Store"].nunique() == 856
    assert test.loc[test["Store"] == 622, "Open"].notna().all()
    missing = json.loads((ws / "data/08_reporting/missing_values.json").read_text())
    assert missing["store"]["missing"] == {
        "CompetitionDistance": 3, "CompetitionOpenSinceMonth": 354, "CompetitionOpenSinceYear": 354,
        "Promo2SinceWeek": 544, "Promo2SinceYear": 544,
    }
    assert missing["test"]["missing"] == {"Open": 11}
    # 180 stores have no rows in the second half of 2014 (refurbishment)
    h2_2014 = sales[(sales["Date"] >= "2014-07-01") & (sales["Date"] <= "2014-12-31")]
    assert sales["Store"].nunique() - h2_2014["Store"].nunique() == 180
