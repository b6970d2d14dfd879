"""Kedro dataset for a raw Rossmann table: the user's CSV (plain or gzipped) or, on a fresh
clone, the seeded synthetic stand-in, so `kedro run` works before anyone has data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)

TABLES = ("train", "store", "test")

# Read everything that has a quirk as text; the data_processing pipeline owns type fixing.
_READ_DTYPES: dict[str, dict[str, Any]] = {
    "train": {"StateHoliday": "string", "SchoolHoliday": "string"},
    "store": {"StoreType": "string", "Assortment": "string", "PromoInterval": "string"},
    "test": {"StateHoliday": "string", "SchoolHoliday": "string"},
}


class RawDataError(DatasetError):
    """Raised when data/01_raw holds an unusable set of files."""


def find_table(raw_dir: Path, table: str) -> Path | None:
    """Return `raw_dir/<table>.csv` or `.csv.gz`, whichever exists (plain wins)."""
    for name in (f"{table}.csv", f"{table}.csv.gz"):
        path = raw_dir / name
        if path.is_file():
            return path
    return None


def resolve_raw_source(raw_dir: Path) -> str:
    """Decide between the user's files and the synthetic default.

    All three tables present -> "user"; none -> "synthetic"; a partial set is an error, because
    silently mixing real and synthetic tables would give nonsense that looks plausible.
    """
    found = {t: find_table(raw_dir, t) for t in TABLES}
    present = [t for t, p in found.items() if p is not None]
    if len(present) == len(TABLES):
        return "user"
    if not present:
        return "synthetic"
    missing = [f"{t}.csv" for t in TABLES if found[t] is None]
    raise RawDataError(
        f"{raw_dir} has {', '.join(f'{t}.csv' for t in present)} but not {', '.join(missing)}: "
        "put all three Kaggle files (train, store, test; .csv or .csv.gz) there, "
        "or remove them all to run on the synthetic default."
    )


class RossmannRawDataset(AbstractDataset[None, pd.DataFrame]):
    """Load one Rossmann table (`train`, `store` or `test`) from `raw_dir`.

    When `raw_dir` holds none of the three tables, seeded synthetic CSVs are generated once into
    `raw_dir/synthetic/` (see `rossmann_kedro.synthetic`) and loaded instead, with a warning in the
    log. The loaded frame carries its source path in `df.attrs["source"]` so that validation errors
    can name the file.
    """

    def __init__(
        self,
        table: str,
        raw_dir: str = "data/01_raw",
        synthetic: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if table not in TABLES:
            raise DatasetError(f"table must be one of {TABLES}, got {table!r}")
        self._table = table
        self._raw_dir = Path(raw_dir)
        self._synthetic = dict(synthetic or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "raw_dir": str(self._raw_dir), "synthetic": self._synthetic}

    def source_path(self) -> Path:
        """The file this dataset reads, generating the synthetic set if that is the source."""
        if resolve_raw_source(self._raw_dir) == "user":
            path = find_table(self._raw_dir, self._table)
            assert path is not None
            return path
        from rossmann_kedro.synthetic import ensure_synthetic_csvs

        synth_dir = self._raw_dir / "synthetic"
        ensure_synthetic_csvs(synth_dir, **self._synthetic)
        logger.warning(
            "No Rossmann CSVs in %s: using SYNTHETIC %s data from %s (seeded generator, %s). "
            "Put Kaggle's train/store/test CSVs in %s to use real data.",
            self._raw_dir, self._table, synth_dir, self._synthetic or "defaults", self._raw_dir,
        )
        return synth_dir / f"{self._table}.csv"

    def load(self) -> pd.DataFrame:
        path = self.source_path()
        try:
            df = pd.read_csv(path, dtype=_READ_DTYPES[self._table], low_memory=False)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise RawDataError(f"{path}: cannot be parsed as a CSV: {exc}") from exc
        if len(df) == 0:
            raise RawDataError(f"{path}: no rows (only a header, or an empty file); expected the "
                               f"{self._table} table's rows")
        df.attrs["source"] = str(path)
        logger.info("Loaded %s: %d rows x %d columns from %s", self._table, len(df), df.shape[1], path)
        return df

    def save(self, data: None) -> None:
        raise DatasetError("Raw Rossmann tables are read-only inputs.")

    def _exists(self) -> bool:
        try:
            resolve_raw_source(self._raw_dir)
        except RawDataError:
            return False
        return True
