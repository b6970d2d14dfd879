"""Dask variants of the data_processing nodes (same signatures and outputs as
`pipelines/data_processing/nodes.py`).

Per-store steps (schema validation incl. unique (Store, Date), outlier flags, the store merge)
run the pandas node on each partition. Cross-table checks reduce the train table to one row per
store (or per store and weekday) first and hand that to the pandas node.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import dask.dataframe as dd
import pandas as pd

from rossmann_kedro.pipelines.data_processing import nodes as dp
from rossmann_kedro.schemas import DataValidationError

from .frames import empty_like, map_stores, quiet_project_logs

logger = logging.getLogger(__name__)


def _validate_partition(part: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    try:
        return dp.validate_train(part)
    except DataValidationError as exc:
        where = f"partition {partition_info['number']}" if partition_info else "a partition"
        raise DataValidationError(f"{where} of train (lines count within the partition):\n"
                                  f"{exc}") from None


def validate_train(raw_train: dd.DataFrame) -> dd.DataFrame:
    """`validate_train` on every partition: whole stores per partition make the unique
    (Store, Date) check exact."""
    return map_stores(raw_train, _validate_partition)


def check_store_coverage(train: dd.DataFrame, store: pd.DataFrame,
                         test: pd.DataFrame) -> dict[str, Any]:
    """The pandas check on train reduced to each store's first and last date."""
    span = train.groupby("Store")["Date"].agg(["min", "max"]).compute()
    unknown = sorted(set(span.index) - set(store["Store"]))
    if unknown:
        raise DataValidationError(f"train: column 'Store': {len(unknown)} store(s) not in "
                                  f"store.csv, e.g. {unknown[:5]}")
    reduced = pd.DataFrame({"Store": list(span.index) * 2,
                            "Date": list(span["min"]) + list(span["max"])})
    return dp.check_store_coverage(reduced, store, test)


def report_missing_values(train: dd.DataFrame, store: pd.DataFrame,
                          test: pd.DataFrame) -> dict[str, Any]:
    """Missing values per column; train counted by the cluster, the small tables by pandas."""
    counts, rows = dd.compute(train.isna().sum(), train.shape[0])
    report = {"train": {"rows": int(rows),
                        "missing": {c: int(n) for c, n in counts.items() if n}}}
    logger.info("missing values in train (%d rows): %s", rows, report["train"]["missing"] or "none")
    with quiet_project_logs():
        small = dp.report_missing_values(empty_like(train), store, test)
    report.update({k: v for k, v in small.items() if k != "train"})
    logger.info("missing values in store / test: %s / %s", report["store"]["missing"] or "none",
                report["test"]["missing"] or "none")
    return report


def fill_test_open(test: pd.DataFrame, train: dd.DataFrame) -> pd.DataFrame:
    """The pandas rule with train reduced to each store's open share per weekday."""
    habit = train.groupby(["Store", "DayOfWeek"])["Open"].mean().compute().reset_index()
    return dp.fill_test_open(test, habit)


def _outliers_part(part: pd.DataFrame, params: dict[str, Any], which: int) -> pd.DataFrame:
    if which == 0:
        return dp.flag_sales_outliers(part, params)[0]
    with quiet_project_logs():  # the same pass again, for its report: logged once already
        return dp.flag_sales_outliers(part, params)[1]


def flag_sales_outliers(train: dd.DataFrame,
                        params: dict[str, Any]) -> tuple[dd.DataFrame, pd.DataFrame]:
    """Robust per-store z-scores on each partition; the (small) report is gathered."""
    flagged = map_stores(train, partial(_outliers_part, params=params, which=0))
    report = map_stores(train, partial(_outliers_part, params=params, which=1)).compute()
    report = report.sort_values(["Store", "Date"], ignore_index=True)
    logger.info("sales outliers over all partitions: %s; action=%s",
                report["kind"].value_counts().to_dict() or "none", params["action"])
    return flagged, report


def merge_store_attributes(rows: dd.DataFrame, stores: pd.DataFrame) -> dd.DataFrame:
    """The pandas merge on every partition, the store table broadcast."""
    return map_stores(rows, dp.merge_store_attributes, stores)
