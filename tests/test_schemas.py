"""Raw-table validation edge cases: empty tables, fractional counts, unexpected columns; each
error or warning names the file and, where there is one, the CSV line."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from rossmann_kedro.datasets.raw_rossmann import RawDataError, RossmannRawDataset
from rossmann_kedro.schemas import TRAIN_SCHEMA, DataValidationError, validate_table

HEADER = "Store,DayOfWeek,Date,Sales,Customers,Open,Promo,StateHoliday,SchoolHoliday\n"
ROWS = ["1,5,2015-06-19,4202,487,1,1,0,0\n", "1,4,2015-06-18,4000,450,1,1,0,0\n",
        "2,4,2015-06-18,5000,550,1,0,0,1\n"]
SOURCE = "data/01_raw/train.csv"


def _frame(lines: list[str], header: str = HEADER) -> pd.DataFrame:
    from io import StringIO

    df = pd.read_csv(StringIO(header + "".join(lines)), dtype={"StateHoliday": "string"})
    df.attrs["source"] = SOURCE
    return df


def test_header_only_train_csv_says_no_rows_and_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(HEADER)
    (tmp_path / "store.csv").write_text("Store\n1\n")
    (tmp_path / "test.csv").write_text("Id\n1\n")
    with pytest.raises(RawDataError, match=r"train\.csv: no rows \(only a header"):
        RossmannRawDataset(table="train", raw_dir=str(tmp_path)).load()
    # and the validation step says the same for an empty frame from any other source
    with pytest.raises(DataValidationError, match=r"^data/01_raw/train\.csv: no rows"):
        validate_table(_frame([]), TRAIN_SCHEMA, SOURCE)


def test_fractional_sales_are_refused_naming_the_line() -> None:
    lines = list(ROWS)
    lines[1] = "1,4,2015-06-18,4000.5,450,1,1,0,0\n"
    with pytest.raises(DataValidationError,
                       match=r"(?s)train\.csv.*column 'Sales': 1 value\(s\) are not whole "
                             r"numbers, e\.g\. line 3 \(4000\.5\)"):
        validate_table(_frame(lines), TRAIN_SCHEMA, SOURCE)
    # whole numbers written as floats ("4000.0") are fine: coerced, not truncated
    lines[1] = "1,4,2015-06-18,4000.0,450,1,1,0,0\n"
    assert validate_table(_frame(lines), TRAIN_SCHEMA, SOURCE)["Sales"].tolist() == [
        4202, 4000, 5000]


def test_unexpected_extra_column_is_a_warning_naming_it(caplog) -> None:
    header = HEADER.rstrip("\n") + ",Weather\n"
    lines = [r.rstrip("\n") + ",sunny\n" for r in ROWS]
    with caplog.at_level(logging.WARNING, logger="rossmann_kedro.schemas"):
        out = validate_table(_frame(lines, header), TRAIN_SCHEMA, SOURCE)
    assert len(out) == 3
    assert "data/01_raw/train.csv: unexpected column(s) 'Weather'" in caplog.text


def test_non_iso_date_still_names_its_line() -> None:
    lines = list(ROWS)
    lines[2] = "2,4,18.06.2015,5000,550,1,0,0,1\n"
    with pytest.raises(DataValidationError, match=r"(?s)column 'Date': 1 value\(s\) are not dates in YYYY-MM-DD form, e\.g\. line 4 \('18\.06\.2015'\)"):
        validate_table(_frame(lines), TRAIN_SCHEMA, SOURCE)
