"""Which sales days are outliers: one robust rule, used by data_processing (flag, cap or drop
in the file) and by every feature context (left out of the store levels it learns)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class StoreRobustZ(NamedTuple):
    """Per row of the rows given: the robust z-score of log sales against the row's store, and
    the store's median and MAD of log sales (NaN on closed days and days without sales)."""

    z: pd.Series
    median: pd.Series
    mad: pd.Series


def store_robust_z(rows: pd.DataFrame) -> StoreRobustZ:
    """z = 0.6745 * (log1p(Sales) - store median) / store MAD over the open days with Sales > 0
    of `rows` only: a context fitted at an origin flags from the rows before it, never from a
    later day's sales."""
    sold = (rows["Open"] == 1) & (rows["Sales"] > 0)
    log_sales = np.log1p(rows["Sales"].where(sold))
    median = log_sales.groupby(rows["Store"]).transform("median")
    mad = (log_sales - median).abs().groupby(rows["Store"]).transform("median")
    return StoreRobustZ(0.6745 * (log_sales - median) / mad.replace(0, np.nan), median, mad)


def outlier_days(rows: pd.DataFrame, threshold: float,
                 robust: StoreRobustZ | None = None) -> pd.Series:
    """True where a day's |robust z| (`store_robust_z` of `rows`, or `robust` if already
    computed) exceeds `threshold`, or the store was open and sold nothing (a till or data
    failure, not demand)."""
    z = (robust or store_robust_z(rows)).z
    zero_open = (rows["Open"] == 1) & (rows["Sales"] == 0)
    return ((z.abs() > threshold).fillna(False) | zero_open).astype(bool)
