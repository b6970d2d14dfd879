"""The raw-data dataset: user CSVs (plain or gzipped) win, synthetic fills an empty folder."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pandas as pd
import pytest

from rossmann_kedro.datasets.raw_rossmann import (
    RawDataError,
    RossmannRawDataset,
    resolve_raw_source,
)

TRAIN_CSV = (
    '"Store","DayOfWeek","Date","Sales","Customers","Open","Promo","StateHoliday","SchoolHoliday"\n'
    '1,5,2015-06-19,4202,487,1,1,"0","0"\n'
    "1,4,2015-06-18,4000,450,1,1,0,0\n"
)
STORE_CSV = (
    '"Store","StoreType","Assortment","CompetitionDistance","CompetitionOpenSinceMonth",'
    '"CompetitionOpenSinceYear","Promo2","Promo2SinceWeek","Promo2SinceYear","PromoInterval"\n'
    '1,"c","a",1270,9,2008,0,,,""\n'
)
TEST_CSV = '"Id","Store","DayOfWeek","Date","Open","Promo","StateHoliday","SchoolHoliday"\n1,1,6,2015-06-20,,0,"0","0"\n'


def _write(raw: Path, gz: bool = False) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for name, text in (("train", TRAIN_CSV), ("store", STORE_CSV), ("test", TEST_CSV)):
        if gz:
            with gzip.open(raw / f"{name}.csv.gz", "wt") as fh:
                fh.write(text)
        else:
            (raw / f"{name}.csv").write_text(text)


@pytest.mark.parametrize("gz", [False, True])
def test_user_files_are_loaded_plain_or_gzipped(tmp_path: Path, gz: bool) -> None:
    _write(tmp_path, gz=gz)
    assert resolve_raw_source(tmp_path) == "user"
    train = RossmannRawDataset(table="train", raw_dir=str(tmp_path)).load()
    assert len(train) == 2
    # both spellings of StateHoliday arrive as text, to be normalised by data_processing
    assert train["StateHoliday"].tolist() == ["0", "0"]
    assert train.attrs["source"].endswith("train.csv.gz" if gz else "train.csv")
    test = RossmannRawDataset(table="test", raw_dir=str(tmp_path)).load()
    assert test["Open"].isna().all()


def test_partial_set_of_files_is_an_error_naming_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(TRAIN_CSV)
    with pytest.raises(RawDataError, match=r"not store\.csv, test\.csv"):
        RossmannRawDataset(table="train", raw_dir=str(tmp_path)).load()


def test_empty_folder_falls_back_to_synthetic_and_says_so(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        train = RossmannRawDataset(table="train", raw_dir=str(tmp_path), synthetic={"n_stores": 5, "seed": 1}).load()
    assert "SYNTHETIC" in caplog.text
    assert (tmp_path / "synthetic" / "train.csv").is_file()
    assert train["Store"].nunique() == 5
    store = RossmannRawDataset(table="store", raw_dir=str(tmp_path), synthetic={"n_stores": 5, "seed": 1}).load()
    assert set(store["Store"]) == set(train["Store"])


def test_unparseable_file_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "store.csv").write_bytes(b"\x1f\x8b garbage that is not gzip nor csv \xff\xfe")
    (tmp_path / "train.csv").unlink()
    with gzip.open(tmp_path / "train.csv.gz", "wb") as fh:
        fh.write(b"")
    (tmp_path / "train.csv.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    with pytest.raises(RawDataError, match=r"train\.csv\.gz: cannot be parsed"):
        RossmannRawDataset(table="train", raw_dir=str(tmp_path)).load()


def test_raw_dataset_is_read_only(tmp_path: Path) -> None:
    from kedro.io import DatasetError

    with pytest.raises(DatasetError):
        RossmannRawDataset(table="train", raw_dir=str(tmp_path)).save(pd.DataFrame())
