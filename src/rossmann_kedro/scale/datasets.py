"""Raw Rossmann tables for the Dask environment: train as a Dask DataFrame whose partitions each
hold whole stores, store and test as pandas (one row per store / per store and test day).

Sources, in order: the user's Kaggle CSVs in `raw_dir` (train is read in blocks and shuffled
on Store), a `raw_dir/train/` folder of Parquet files with store.csv and test.csv beside it
(shuffled on Store unless `synthetic.write_partitioned` made it, whose files are whole stores),
or, with none of these, a synthetic chain generated once into `raw_dir/synthetic_chain/`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from rossmann_kedro.datasets.raw_rossmann import (
    _READ_DTYPES,
    RawDataError,
    find_table,
    resolve_raw_source,
)

logger = logging.getLogger(__name__)

TABLES = ("train", "store", "test")


class RossmannRawDaskDataset(AbstractDataset[None, Any]):
    """One raw table (`train` as Dask, `store`/`test` as pandas); see the module docstring.

    `synthetic`: n_stores, seed and stores_per_partition of the fallback chain.
    `stores_per_partition` also sets how many partitions a shuffled train gets.
    """

    def __init__(self, table: str, raw_dir: str = "data/01_raw",
                 synthetic: dict[str, Any] | None = None, stores_per_partition: int = 250,
                 metadata: dict[str, Any] | None = None) -> None:
        if table not in TABLES:
            raise DatasetError(f"table must be one of {TABLES}, got {table!r}")
        self._table = table
        self._raw_dir = Path(raw_dir)
        self._synthetic = dict(synthetic or {})
        self._stores_per_partition = int(stores_per_partition)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "raw_dir": str(self._raw_dir),
                "synthetic": self._synthetic}

    def source_dir(self) -> tuple[Path, str]:
        """(folder, kind): kind is "csv", "parquet" or "chain" (store-partitioned Parquet)."""
        from rossmann_kedro.synthetic import ensure_partitioned, read_partitioned_marker

        if (self._raw_dir / "train").is_dir() and find_table(self._raw_dir, "store"):
            marker = read_partitioned_marker(self._raw_dir)
            return self._raw_dir, "chain" if marker else "parquet"
        if resolve_raw_source(self._raw_dir) == "user":
            return self._raw_dir, "csv"
        chain = self._raw_dir / "synthetic_chain"
        ensure_partitioned(chain, **self._synthetic)
        logger.warning("No Rossmann data in %s: using a SYNTHETIC chain from %s (seeded "
                       "generator, %s).", self._raw_dir, chain, self._synthetic or "defaults")
        return chain, "chain"

    def load(self) -> Any:
        folder, kind = self.source_dir()
        if self._table != "train":
            path = find_table(folder, self._table)
            if path is None:
                raise RawDataError(f"{folder}: no {self._table}.csv")
            df = pd.read_csv(path, dtype=_READ_DTYPES[self._table], low_memory=False)
            df.attrs["source"] = str(path)
            logger.info("Loaded %s: %d rows x %d columns from %s", self._table, len(df),
                        df.shape[1], path)
            return df
        return self._load_train(folder, kind)

    def _load_train(self, folder: Path, kind: str):
        import dask.dataframe as dd

        if kind == "csv":
            path = find_table(folder, "train")
            gz = path.suffix == ".gz"
            ddf = dd.read_csv(str(path), dtype=_READ_DTYPES["train"],
                              blocksize=None if gz else "64MB",
                              compression="gzip" if gz else None)
        else:
            # one partition per file: files written by the generator hold whole stores
            ddf = dd.read_parquet(str(folder / "train"), split_row_groups=False)
        if kind != "chain":
            n_stores = len(pd.read_csv(find_table(folder, "store"), usecols=["Store"]))
            n_parts = max(1, -(-n_stores // self._stores_per_partition))
            ddf = ddf.shuffle(on="Store", npartitions=n_parts)
        logger.info("Loaded train as Dask: %d partitions of whole stores from %s (%s)",
                    ddf.npartitions, folder, kind)
        return ddf

    def save(self, data: None) -> None:
        raise DatasetError("Raw Rossmann tables are read-only inputs.")

    def _exists(self) -> bool:
        if (self._raw_dir / "train").is_dir():
            return find_table(self._raw_dir, "store") is not None
        try:
            resolve_raw_source(self._raw_dir)
        except RawDataError:
            return False
        return True
