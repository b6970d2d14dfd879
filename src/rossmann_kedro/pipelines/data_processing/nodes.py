"""Nodes of the data_processing pipeline: pure functions of DataFrames and parameters."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from rossmann_kedro.outliers import outlier_days, store_robust_z
from rossmann_kedro.pipelines.data_processing.config import OutliersConfig, StoreFillConfig
from rossmann_kedro.schemas import (
    STORE_SCHEMA,
    TEST_COLUMNS,
    TEST_SCHEMA,
    TRAIN_COLUMNS,
    TRAIN_SCHEMA,
    DataValidationError,
    validate_table,
)

logger = logging.getLogger(__name__)


def _source(df: pd.DataFrame, default: str) -> str:
    return df.attrs.get("source", default)


def _normalise_text(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Strip stray whitespace/quotes so "0", 0 and ' 0' all mean the same category."""
    out = df.copy()
    for col in columns:
        if col in out:
            text = out[col].astype("string").str.strip().str.strip('"').str.strip()
            out[col] = text.fillna("").astype(str) if col == "PromoInterval" else text.astype(object)
    return out


def _normalise_state_holiday(df: pd.DataFrame) -> pd.DataFrame:
    # The real train.csv has StateHoliday both as 0 and "0" (and pandas may read "0.0").
    out = _normalise_text(df, ["StateHoliday"])
    if "StateHoliday" in out:
        out["StateHoliday"] = out["StateHoliday"].replace({"0.0": "0"})
    return out


def _log_types(name: str, before: pd.DataFrame, after: pd.DataFrame) -> None:
    logger.info(
        "validate %s: %d rows in, %d rows out, %d columns; schema OK (types fixed: %s)",
        name, len(before), len(after), after.shape[1],
        ", ".join(f"{c}->{after[c].dtype}" for c in after.columns if str(before[c].dtype) != str(after[c].dtype))
        or "none",
    )


def _validate_store_days(raw: pd.DataFrame, name: str, schema, columns: list[str]) -> pd.DataFrame:
    source = _source(raw, f"{name}.csv")
    df = _normalise_state_holiday(_normalise_text(raw, ["SchoolHoliday"]))
    out = validate_table(df, schema, source)
    out = out[columns].sort_values(["Store", "Date"], ignore_index=True)
    _log_types(name, raw, out)
    return out


def validate_train(raw_train: pd.DataFrame) -> pd.DataFrame:
    """Check train.csv against its schema and return it with proper types, dates parsed once."""
    return _validate_store_days(raw_train, "train", TRAIN_SCHEMA, TRAIN_COLUMNS)


def validate_store(raw_store: pd.DataFrame) -> pd.DataFrame:
    """Check store.csv against its schema; missing values stay missing until the fill step."""
    source = _source(raw_store, "store.csv")
    df = _normalise_text(raw_store, ["StoreType", "Assortment", "PromoInterval"])
    out = validate_table(df, STORE_SCHEMA, source)
    out = out[list(STORE_SCHEMA.columns)].sort_values("Store", ignore_index=True)
    _log_types("store", raw_store, out)
    return out


def validate_test(raw_test: pd.DataFrame) -> pd.DataFrame:
    """Check test.csv against its schema; Open may be missing (filled later)."""
    return _validate_store_days(raw_test, "test", TEST_SCHEMA, TEST_COLUMNS)


def check_store_coverage(train: pd.DataFrame, store: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """Every store in train/test must have attributes in store.csv: a model cannot serve it otherwise."""
    known = set(store["Store"])
    problems = []
    for name, df in (("train.csv", train), ("test.csv", test)):
        unknown = sorted(set(df["Store"]) - known)
        if unknown:
            lines = (df.index[df["Store"].isin(unknown)][:5] + 2).tolist()
            problems.append(f"{name}: column 'Store': {len(unknown)} store(s) not in store.csv, "
                            f"e.g. {unknown[:5]} (rows {lines})")
    if problems:
        raise DataValidationError("\n".join(problems))
    untested = sorted(set(train["Store"]) - set(test["Store"]))
    summary = {
        "stores": len(known),
        "stores_in_train": int(train["Store"].nunique()),
        "stores_in_test": int(test["Store"].nunique()),
        "train_dates": [str(train["Date"].min().date()), str(train["Date"].max().date())],
        "test_dates": [str(test["Date"].min().date()), str(test["Date"].max().date())],
        "stores_in_train_not_in_test": len(untested),
    }
    logger.info("store coverage: %s", summary)
    return summary


def report_missing_values(train: pd.DataFrame, store: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """Count missing values per column of each table, before any filling."""
    report: dict[str, Any] = {}
    for name, df in (("train", train), ("store", store), ("test", test)):
        counts = df.isna().sum()
        report[name] = {"rows": len(df), "missing": {c: int(n) for c, n in counts.items() if n}}
        logger.info("missing values in %s (%d rows): %s", name, len(df), report[name]["missing"] or "none")
    return report


def fill_store_missing(store: pd.DataFrame, params: StoreFillConfig) -> pd.DataFrame:
    """Fill store.csv gaps with documented rules.

    - CompetitionDistance missing (3 real stores): no competitor is known, so treat it as far away
      (`competition_distance_fill` metres) and keep a flag so models can tell.
    - CompetitionOpenSince* missing: the competitor's opening date is unknown; 0 means "assume it
      opened before our data starts" (so it is active on every day we see).
    - Promo2Since*/PromoInterval missing where Promo2 == 0: not applicable -> 0 and "".
      Promo2 == 1 with a missing start would be an error in the data; the rule fills 0 too and logs.
    """
    out = store.copy()
    far = float(params["competition_distance_fill"])
    out["CompetitionDistanceMissing"] = out["CompetitionDistance"].isna()
    out["CompetitionDistance"] = out["CompetitionDistance"].fillna(far)
    unknown_open = out["CompetitionOpenSinceYear"].isna() | out["CompetitionOpenSinceMonth"].isna()
    for col in ("CompetitionOpenSinceMonth", "CompetitionOpenSinceYear"):
        out[col] = out[col].where(~unknown_open, 0).fillna(0).astype("int64")
    promo2_no_start = (out["Promo2"] == 1) & out["Promo2SinceYear"].isna()
    for col in ("Promo2SinceWeek", "Promo2SinceYear"):
        out[col] = out[col].fillna(0).astype("int64")
    out.loc[out["Promo2"] == 0, "PromoInterval"] = ""
    logger.info(
        "fill store: %d rows; CompetitionDistance filled for %d store(s) with %.0f m (flagged); "
        "competition opening unknown for %d store(s) -> 0 (assume open before data); "
        "Promo2 fields not applicable for %d store(s) -> 0/''; Promo2 without a start: %d",
        len(out), int(out["CompetitionDistanceMissing"].sum()), far, int(unknown_open.sum()),
        int((out["Promo2"] == 0).sum()), int(promo2_no_start.sum()),
    )
    return out


def fill_test_open(test: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Fill missing test Open values from the store's habit on that weekday in train.

    A store that opened on most of its past days with that weekday is assumed open (the real file's
    11 missing rows, store 622 on weekdays, become open); a store that never opened (e.g. Sundays)
    is assumed closed. Predicting a closed day as open costs little; the reverse hides sales.
    """
    out = test.copy()
    missing = out["Open"].isna()
    habit = train.groupby(["Store", "DayOfWeek"])["Open"].mean().rename("habit")
    guess = out.loc[missing, ["Store", "DayOfWeek"]].join(habit, on=["Store", "DayOfWeek"])["habit"]
    filled = (guess.fillna(1.0) >= 0.5).astype("int64")
    out.loc[missing, "Open"] = filled
    out["Open"] = out["Open"].astype("int64")
    logger.info(
        "fill test Open: %d rows, %d missing Open filled from weekday habit (%d open, %d closed)",
        len(out), int(missing.sum()), int(filled.sum()), int((filled == 0).sum()),
    )
    return out


def flag_sales_outliers(train: pd.DataFrame, params: OutliersConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detect per-store sales outliers on open days with a robust z-score of log sales.

    z = 0.6745 * (log1p(Sales) - store median) / store MAD; |z| > `threshold` is an outlier
    (`rossmann_kedro.outliers`, the rule every feature context applies to its own rows).
    `action`: "flag" keeps the rows with SalesOutlier=True (default: the model decides), "cap"
    clips Sales to the store's threshold band, "drop" removes the rows. Zero-sales open days are
    flagged too (a till or data failure, not demand).
    """
    threshold = float(params["threshold"])
    action = params["action"]
    if action not in {"flag", "cap", "drop"}:
        raise ValueError(f"parameters data_processing.outliers.action must be flag, cap or drop, got {action!r}")
    out = train.copy()
    open_days = out["Open"] == 1
    robust = store_robust_z(out)
    z, median, mad = robust
    zero_open = open_days & (out["Sales"] == 0)
    out["SalesOutlier"] = outlier_days(out, threshold, robust)
    is_outlier = out["SalesOutlier"] & ~zero_open

    report = out.loc[out["SalesOutlier"], ["Store", "Date", "Sales", "Customers", "Promo", "StateHoliday"]].copy()
    report["z"] = z[out["SalesOutlier"]].round(2)
    report["kind"] = np.where(zero_open[out["SalesOutlier"]], "zero_sales_open", np.where(report["z"] > 0, "high", "low"))
    report["action"] = action

    if action == "cap":
        band = mad / 0.6745 * threshold
        lo, hi = np.expm1(median - band), np.expm1(median + band)
        capped = is_outlier & open_days
        out.loc[capped, "Sales"] = out.loc[capped, "Sales"].clip(lo[capped], hi[capped]).round().astype("int64")
    elif action == "drop":
        out = out.loc[~out["SalesOutlier"]].reset_index(drop=True)

    logger.info(
        "sales outliers (|robust z| > %.1f per store on open days): %d high, %d low, %d zero-sales open "
        "days out of %d open days; action=%s; %d rows in, %d rows out",
        threshold, int((report["kind"] == "high").sum()), int((report["kind"] == "low").sum()),
        int((report["kind"] == "zero_sales_open").sum()), int(open_days.sum()), action, len(train), len(out),
    )
    return out, report.reset_index(drop=True)


def summarise_outliers(outliers: pd.DataFrame, params: OutliersConfig) -> dict[str, Any]:
    """Counts by kind and the stores with most outliers, for the reporting layer."""
    by_store = outliers.groupby("Store").size().sort_values(ascending=False)
    return {
        "threshold": float(params["threshold"]),
        "action": params["action"],
        "total": len(outliers),
        "by_kind": {k: int(v) for k, v in outliers["kind"].value_counts().items()},
        "top_stores": {str(k): int(v) for k, v in by_store.head(10).items()},
    }


def merge_store_attributes(rows: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    """Attach store attributes to each store-day (many rows to one store)."""
    merged = rows.merge(stores, on="Store", how="left", validate="many_to_one")
    logger.info("merge store attributes: %d rows in, %d rows out, %d columns", len(rows), len(merged), merged.shape[1])
    return merged
