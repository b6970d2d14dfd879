"""Pandera schemas of the three raw Kaggle tables and the one place that turns a validation
failure into an error a person can act on (file, column, CSV line numbers, offending values)."""

from __future__ import annotations

import logging

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

logger = logging.getLogger(__name__)

STATE_HOLIDAYS = ["0", "a", "b", "c"]
STORE_TYPES = ["a", "b", "c", "d"]
ASSORTMENTS = ["a", "b", "c"]
PROMO_INTERVALS = ["", "Jan,Apr,Jul,Oct", "Feb,May,Aug,Nov", "Mar,Jun,Sept,Dec"]

_BINARY = pa.Check.isin([0, 1])
_DATE = pa.Column("datetime64[ns]", coerce=True, nullable=False)


def _int(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column("Int64" if nullable else "int64", list(checks), coerce=True, nullable=nullable)


def _day_of_week_matches_date(df: pd.DataFrame) -> pd.Series:
    # Rows whose Date did not parse are reported by the Date column itself.
    return df["Date"].isna() | (df["DayOfWeek"] == df["Date"].dt.day_of_week + 1)


def _store_day_schema(name: str, extra: dict[str, pa.Column], open_nullable: bool) -> pa.DataFrameSchema:
    """train.csv and test.csv share the store-day columns and row checks."""
    columns = {
        "Store": _int(pa.Check.ge(1)),
        "DayOfWeek": _int(pa.Check.in_range(1, 7)),
        "Date": _DATE,
        "Open": _int(_BINARY, nullable=open_nullable),
        "Promo": _int(_BINARY),
        "StateHoliday": pa.Column(str, pa.Check.isin(STATE_HOLIDAYS)),
        "SchoolHoliday": _int(_BINARY),
        **extra,
    }
    return pa.DataFrameSchema(
        columns,
        checks=[pa.Check(_day_of_week_matches_date, name="DayOfWeek matches Date", ignore_na=False)],
        unique=["Store", "Date"],
        strict=False,
        name=name,
    )


TRAIN_SCHEMA = _store_day_schema(
    "train", {"Sales": _int(pa.Check.ge(0)), "Customers": _int(pa.Check.ge(0))}, open_nullable=False
)
# store 622 has blank Open values in the real test.csv
TEST_SCHEMA = _store_day_schema(
    "test", {"Id": pa.Column("int64", pa.Check.ge(1), coerce=True, unique=True)}, open_nullable=True
)

STORE_SCHEMA = pa.DataFrameSchema(
    {
        "Store": pa.Column("int64", pa.Check.ge(1), coerce=True, unique=True),
        "StoreType": pa.Column(str, pa.Check.isin(STORE_TYPES)),
        "Assortment": pa.Column(str, pa.Check.isin(ASSORTMENTS)),
        "CompetitionDistance": pa.Column(float, pa.Check.ge(0), coerce=True, nullable=True),
        "CompetitionOpenSinceMonth": _int(pa.Check.in_range(1, 12), nullable=True),
        "CompetitionOpenSinceYear": _int(pa.Check.in_range(1900, 2100), nullable=True),
        "Promo2": _int(_BINARY),
        "Promo2SinceWeek": _int(pa.Check.in_range(1, 53), nullable=True),
        "Promo2SinceYear": _int(pa.Check.in_range(1900, 2100), nullable=True),
        "PromoInterval": pa.Column(str, pa.Check.isin(PROMO_INTERVALS)),
    },
    strict=False,
    name="store",
)


# For table-level row checks: which columns to show in the error's examples.
ROW_CHECK_COLUMNS = {"DayOfWeek matches Date": ["DayOfWeek", "Date"]}


# Kaggle's column order, used for the validated outputs.
TRAIN_COLUMNS = ["Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo", "StateHoliday",
                 "SchoolHoliday"]
TEST_COLUMNS = ["Id", "Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday"]


class DataValidationError(ValueError):
    """A raw table broke its schema; the message names the file, columns and CSV lines."""


def _csv_line(index: object) -> str:
    # Row labels are 0-based positions of the CSV's data rows; line 1 is the header.
    try:
        return str(int(index) + 2)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "?"


def format_schema_errors(errors: SchemaErrors, source: str, max_examples: int = 5) -> str:
    """Group pandera's failure cases per (column, check) into a short, actionable report."""
    cases = errors.failure_cases.copy()
    cases["column"] = cases["column"].fillna("<table>")
    coerce_failed = set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"])
    lines = [f"{source}: schema validation failed"]
    unique = cases[cases["check"] == "multiple_fields_uniqueness"]
    if not unique.empty:
        rows = sorted(unique["index"].dropna().unique())
        columns = ", ".join(dict.fromkeys(unique["column"]))
        lines.append(
            f"  - columns ({columns}) must be unique: {len(rows)} duplicated row(s), e.g. lines "
            + ", ".join(_csv_line(i) for i in rows[:max_examples])
        )
    row_checks = cases[(cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
                       & (cases["check"] != "multiple_fields_uniqueness")]
    for check, group in row_checks.groupby("check", sort=False):
        shown = group[group["column"].isin(ROW_CHECK_COLUMNS.get(str(check), group["column"]))]
        rows = list(dict.fromkeys(group["index"]))
        examples = "; ".join(
            f"line {_csv_line(i)} ("
            + ", ".join(f"{c}={v!r}" for c, v in zip(shown.loc[shown["index"] == i, "column"],
                                                       shown.loc[shown["index"] == i, "failure_case"], strict=False))
            + ")"
            for i in rows[:max_examples]
        )
        lines.append(f"  - check {check} failed on {len(rows)} row(s), e.g. {examples}")
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        check = str(check)
        if check == "multiple_fields_uniqueness" or check in set(row_checks["check"]):
            continue
        if check == "column_in_dataframe":
            lines.append(f"  - column {group['failure_case'].iloc[0]!r} is missing")
            continue
        if check.startswith("dtype(") and column in coerce_failed:
            continue  # same rows as the coercion failure already reported
        located = group[group["index"].notna()]
        if located.empty:
            if coerce_failed:
                continue  # a check that could not run because a column has the wrong type
            lines.append(f"  - {column!r}: check {check} could not run: {group['failure_case'].iloc[0]}")
            continue
        examples = ", ".join(
            f"line {_csv_line(i)} ({v!r})"
            for i, v in zip(located["index"].head(max_examples), located["failure_case"].head(max_examples), strict=False)
        )
        what = "type" if check.startswith("coerce_dtype") else f"check {check}"
        lines.append(
            f"  - column {column!r}: {what} failed on {located['index'].nunique()} row(s), e.g. {examples}"
        )
    return "\n".join(lines)


def _values_coercion_would_hide(df: pd.DataFrame, schema: pa.DataFrameSchema,
                                max_examples: int = 5) -> list[str]:
    """Values that coercion would silently change or reject without naming a line: fractions in
    integer columns (Kaggle's counts are whole; int64 coercion truncates them) and dates not in
    YYYY-MM-DD form (pandas infers one format per column, so one odd row fails the column)."""
    lines = []

    def report(name: str, bad: pd.Series, what: str, show) -> None:
        where = df.index[bad.to_numpy()]
        examples = ", ".join(f"line {_csv_line(i)} ({show(df[name].loc[i])})"
                             for i in where[:max_examples])
        lines.append(f"  - column {name!r}: {int(bad.sum())} value(s) {what}, e.g. {examples}")

    for name, column in schema.columns.items():
        if name not in df.columns:
            continue
        dtype = str(column.dtype).lower()
        if "int" in dtype:
            values = pd.to_numeric(df[name], errors="coerce")
            fractional = values.notna() & (values != values.round())
            if fractional.any():
                report(name, fractional, "are not whole numbers", str)
        elif "datetime" in dtype and not pd.api.types.is_datetime64_any_dtype(df[name]):
            text = df[name].astype("string")
            odd = text.notna() & ~text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False)
            if odd.any():
                report(name, odd.astype(bool), "are not dates in YYYY-MM-DD form", repr)
    return lines


def validate_table(df: pd.DataFrame, schema: pa.DataFrameSchema, source: str) -> pd.DataFrame:
    """Validate (and coerce) `df`, raising DataValidationError that names `source`. Columns the
    schema does not know are kept but logged as a warning (a misspelt or shifted column)."""
    if len(df) == 0:
        raise DataValidationError(
            f"{source}: no rows (only a header, or an empty file); "
            f"expected the {schema.name or 'table'} table's rows")
    extra = [c for c in df.columns if c not in schema.columns]
    if extra:
        logger.warning("%s: unexpected column(s) %s, not part of the %s schema; ignored",
                       source, ", ".join(map(repr, extra)), schema.name)
    hidden = _values_coercion_would_hide(df, schema)
    if hidden:
        raise DataValidationError("\n".join([f"{source}: schema validation failed", *hidden]))
    try:
        return schema.validate(df, lazy=True)
    except SchemaErrors as exc:
        raise DataValidationError(format_schema_errors(exc, source)) from None
