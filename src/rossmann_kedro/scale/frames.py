"""Helpers for Dask frames whose partitions each hold whole stores.

That invariant is set by the raw dataset (`datasets.py`: store-chunked Parquet files, or a
shuffle on Store) and kept by every step, because they all map partitions to partitions. It is
what makes per-store pandas code (robust outlier z-scores, store statistics, schema checks on
(Store, Date)) exact when run partition by partition.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_project_logs() -> Iterator[None]:
    """Silence the project's INFO logs while a pandas node runs on an empty frame for meta."""
    log = logging.getLogger("rossmann_kedro")
    old = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(old)


def empty_like(ddf: dd.DataFrame) -> pd.DataFrame:
    """The zero-row pandas frame with `ddf`'s columns and dtypes."""
    return ddf._meta


def map_stores(ddf: dd.DataFrame, func: Callable[..., pd.DataFrame], *args: Any,
               **kwargs: Any) -> dd.DataFrame:
    """`func(partition, *args, **kwargs)` on every partition (whole stores each).

    The output schema comes from running `func` on the empty frame or, if it refuses one (a
    schema check cannot type an empty column), on the first rows of the first partition.
    Pandas arguments are passed as they are (broadcast to every task).
    """
    with quiet_project_logs():
        try:
            meta = _apply(empty_like(ddf), func, *args, **kwargs)
        except Exception:
            head = ddf.partitions[0].compute()
            first = head.loc[head["Store"] == head["Store"].iloc[0]]
            meta = _apply(first, func, *args, **kwargs).iloc[:0]
    return ddf.map_partitions(_apply, func, *args, meta=meta, **kwargs)


def _apply(part: pd.DataFrame, func: Callable[..., pd.DataFrame], *args: Any,
           **kwargs: Any) -> pd.DataFrame:
    """`func(part, ...)` with object (text) columns as pandas' str dtype: what a Parquet round
    trip gives the pandas path, and a type Dask can write without guessing."""
    out = func(part, *args, **kwargs)
    text = [c for c in out.columns if out[c].dtype == object]
    return out.astype(dict.fromkeys(text, "str")) if text else out


def shrink(df: pd.DataFrame) -> pd.DataFrame:
    """The same values in smaller dtypes, for tables gathered to one process: integers in the
    smallest type that holds them, low-cardinality text as categories."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s) and len(s):
            lo, hi = int(s.min()), int(s.max())
            for t in (np.int8, np.int16, np.int32):
                if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
                    s = s.astype(t)
                    break
        elif (pd.api.types.is_string_dtype(s) or s.dtype == object) and len(s) \
                and s.nunique() <= 64:
            s = s.astype("category")
        out[col] = s
    return pd.DataFrame(out, index=df.index)


def gather(ddf: dd.DataFrame, columns: list[str] | None = None,
           what: str = "rows") -> pd.DataFrame:
    """Compute `ddf` (or some of its columns) into one pandas frame, each partition shrunk
    first, with a log line saying how much was gathered: the places where the Dask path meets
    one process."""
    part = ddf[columns] if columns is not None else ddf
    df = part.map_partitions(shrink, meta=shrink(empty_like(part))).compute()
    df = df.reset_index(drop=True)
    logger.info("gathered %s to the driver: %d rows x %d columns, %.1f MiB", what, len(df),
                df.shape[1], df.memory_usage(deep=True).sum() / 2**20)
    return df
