"""The prediction log: every forecast the server answered, as date-partitioned JSON Lines files
(`<path>/date=YYYY-MM-DD/<writer>.jsonl`, one writer per server process, appended to), readable
as one DataFrame through the Kedro catalog. The server writes it; the monitoring pipeline reads it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)

# One record per predicted store-day. Request row fields keep Kaggle's test.csv names.
LOG_COLUMNS: dict[str, str] = {
    "request_time": "datetime64[ns, UTC]",  # when the server answered
    "method": "str",          # Predict or ForecastStore
    "model": "str",
    "version": "str",         # catalog version of the model that answered
    "train_end": "str",       # last training day of that version (YYYY-MM-DD)
    "Store": "int64",
    "Date": "datetime64[ns]",
    "DayOfWeek": "int64",
    "Open": "int64",
    "Promo": "int64",
    "StateHoliday": "str",
    "SchoolHoliday": "int64",
    "Id": "Int64",            # the caller's row id, when it sent one
    "Sales": "float64",       # prediction
    "lower": "float64",
    "upper": "float64",
}


def partition_dir(root: Path, day: str) -> Path:
    """Folder of one UTC day's records."""
    return Path(root) / f"date={day}"


def records_to_jsonl(records: pd.DataFrame) -> str:
    """LOG_COLUMNS rows as JSON Lines (ISO dates, null for missing ids). `request_time` and
    `Date` may already be ISO strings (the server's writer formats them once per request)."""
    out = records[list(LOG_COLUMNS)].copy()
    if not pd.api.types.is_string_dtype(out["request_time"]):
        out["request_time"] = pd.to_datetime(out["request_time"], utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
    if not pd.api.types.is_string_dtype(out["Date"]):
        out["Date"] = np.datetime_as_string(
            pd.to_datetime(out["Date"]).to_numpy().astype("datetime64[D]"))
    out["Id"] = out["Id"].astype(object)  # pandas writes a nullable Int64 column slowly
    text = out.to_json(orient="records", lines=True, double_precision=6)
    return text if text.endswith("\n") else text + "\n"


def empty_log() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in LOG_COLUMNS.items()})


def read_log(root: Path, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """All records in partitions `start`..`end` (YYYY-MM-DD, inclusive; None = open)."""
    files = []
    for part in sorted(Path(root).glob("date=*")):
        day = part.name[len("date="):]
        if (start and day < start) or (end and day > end):
            continue
        files.extend(sorted(part.glob("*.jsonl")))
    frames = []
    for f in files:
        try:
            frames.append(pd.read_json(f, lines=True, dtype=False))
        except ValueError as exc:
            # a record cut short by a crash or a full disk: keep every complete line
            lines = []
            for line in f.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            logger.warning("%s: skipped unreadable lines (%s)", f, exc)
            frames.append(pd.DataFrame(lines))
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_log()
    df = pd.concat(frames, ignore_index=True)
    missing = [c for c in LOG_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"{root}: prediction log records lack columns {missing}")
    df["request_time"] = pd.to_datetime(df["request_time"], utc=True, format="ISO8601")
    df["Date"] = pd.to_datetime(df["Date"])
    df["Id"] = pd.array(df["Id"], dtype="Int64")
    for col, dtype in LOG_COLUMNS.items():
        if col not in ("request_time", "Date", "Id"):
            df[col] = df[col].astype(dtype)
    return df[list(LOG_COLUMNS)]


def append_records(root: Path, records: pd.DataFrame, writer: str, chunk_rows: int = 2048) -> int:
    """Append records to their day's partition file `<writer>.jsonl`; returns records written.
    Formats `chunk_rows` at a time, yielding the interpreter between chunks, so that a big
    batch logged by a server thread does not stall the threads answering requests. Raises
    OSError when the disk or folder refuses."""
    days = _days(records["request_time"])
    for day in sorted(set(days)):
        part = records.loc[days == day]
        folder = partition_dir(root, str(day))
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{writer}.jsonl", "a", encoding="utf-8") as fh:
            for lo in range(0, len(part), chunk_rows):
                fh.write(records_to_jsonl(part.iloc[lo:lo + chunk_rows]))
                time.sleep(0)
    return len(records)


def _days(request_time: pd.Series) -> np.ndarray:
    """UTC day (YYYY-MM-DD) of each record."""
    if pd.api.types.is_string_dtype(request_time):
        return request_time.str.slice(0, 10).to_numpy(dtype=object)
    return pd.to_datetime(request_time, utc=True).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)


class PredictionLogDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """The prediction log as a catalog dataset.

    `load()` returns every record (LOG_COLUMNS; empty frame when nothing was served yet), or the
    days `load_args: {start, end}` select. `save(df)` appends records (as writer `save_args:
    {writer}`, default "kedro"): for importing or synthesising logs.
    """

    def __init__(self, path: str, load_args: dict[str, Any] | None = None,
                 save_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self._load_args = dict(load_args or {})
        self._save_args = {"writer": "kedro", **(save_args or {})}
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        return read_log(self.path, self._load_args.get("start"), self._load_args.get("end"))

    def save(self, data: pd.DataFrame) -> None:
        missing = [c for c in LOG_COLUMNS if c not in data.columns]
        if missing:
            raise DatasetError(f"prediction log records need columns {missing}")
        append_records(self.path, data, self._save_args["writer"])

    def _exists(self) -> bool:
        return any(self.path.glob("date=*/*.jsonl"))

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "load_args": self._load_args}
