"""Writes the prediction log off the request path: a request only puts one item on a bounded
queue (never blocking); a writer thread turns batches of items into JSON Lines appended to the
day's partition (`rossmann_kedro.datasets.prediction_log` owns the layout). A full queue drops
the item and counts its records; a failing disk or folder counts the records it loses and logs
one error until writing works again. Predictions never wait for or fail because of the log."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rossmann_kedro.datasets.prediction_log import LOG_COLUMNS, append_records

logger = logging.getLogger(__name__)
_STOP = object()


@dataclass(frozen=True)
class _Item:
    time_ns: int
    method: str
    model: str
    version: str
    train_end: str
    columns: dict[str, Any]  # REQUEST_COLUMNS -> arrays, as in ConvertedRows.columns
    ids: Sequence[int | None]
    values: np.ndarray  # (n, 3) Sales, lower, upper


class _NoMetrics:
    """Stands in for ServerMetrics' log counters when metrics are off."""

    class _Counter:
        def inc(self, n: float = 1) -> None:
            pass

    log_written = log_dropped = log_failed = _Counter()


class PredictionLogWriter:
    """Bounded queue + writer thread appending records under `root`."""

    def __init__(self, root: Path, metrics: Any | None = None, max_queued_requests: int = 10_000,
                 flush_seconds: float = 0.5, writer_id: str | None = None,
                 append: Any = append_records) -> None:
        self.root = Path(root)
        self._append = append  # (root, records, writer_id) -> int; tests pass a slow one
        self.metrics = metrics or _NoMetrics()
        self.flush_seconds = flush_seconds
        self.writer_id = writer_id or f"{socket.gethostname()}-{os.getpid()}"
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued_requests)
        self._wake = threading.Event()  # cuts the flush wait short: close, flush, half full
        self._wake_at = max_queued_requests // 2
        self._failing = False
        self.written = self.dropped = self.failed = 0  # records, also in the metrics
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        logger.info("Prediction log: appending to %s/date=*/%s.jsonl", self.root, self.writer_id)

    def submit(self, method: str, model: str, version: str, train_end: str,
               columns: dict[str, Any], ids: Sequence[int | None], values: np.ndarray) -> None:
        """Queue one request's predictions; never blocks, never raises."""
        item = _Item(time.time_ns(), method, model, version, train_end, columns, ids, values)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            n = len(values)
            self.dropped += n
            self.metrics.log_dropped.inc(n)
            return
        if self._queue.qsize() > self._wake_at:
            self._wake.set()  # half full: write now rather than at the next flush

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            logger.error("Prediction log: queue still full at shutdown; %d requests not written",
                         self._queue.qsize())
            return
        self._wake.set()
        self._thread.join(timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is written (or has failed)."""
        done = threading.Event()
        self._queue.put(done, timeout=timeout)
        self._wake.set()
        done.wait(timeout)

    # ---- writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Collect for up to flush_seconds: one write per interval, whatever the request
            # rate (a write has a fixed cost of a few ms; per record it is a few microseconds).
            if self.flush_seconds > 0 and isinstance(batch[0], _Item):
                self._wake.wait(self.flush_seconds)
            self._wake.clear()
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [b for b in batch if isinstance(b, _Item)]
            if items:
                self._write(items)
            for b in batch:
                if isinstance(b, threading.Event):
                    b.set()
            if any(b is _STOP for b in batch):
                return

    def _write(self, items: list[_Item]) -> None:
        n = sum(len(i.values) for i in items)
        try:
            records = _records(items)
            self._append(self.root, records, self.writer_id)
        except Exception as exc:  # OSError mostly; nothing may kill the writer
            self.failed += n
            self.metrics.log_failed.inc(n)
            if not self._failing:
                logger.error("Prediction log: cannot write to %s (%s: %s); predictions go on, "
                             "lost records are counted in rossmann_prediction_log_write_failures",
                             self.root, type(exc).__name__, exc)
                self._failing = True
            return
        if self._failing:
            logger.warning("Prediction log: writing to %s works again", self.root)
            self._failing = False
        self.written += n
        self.metrics.log_written.inc(n)


def _records(items: list[_Item]) -> pd.DataFrame:
    """One LOG_COLUMNS frame for a batch of queued requests (times and dates as ISO text)."""
    counts = [len(i.values) for i in items]

    def per_row(values: list) -> np.ndarray:
        return np.repeat(np.array(values, dtype=object), counts)

    def col(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(i.columns[name]) for i in items])

    values = np.concatenate([i.values for i in items])
    stamps = np.datetime_as_string(
        np.array([i.time_ns for i in items], dtype="datetime64[ns]"), unit="us")
    frame = pd.DataFrame({
        "request_time": per_row([f"{t}Z" for t in stamps]),
        "method": per_row([i.method for i in items]),
        "model": per_row([i.model for i in items]),
        "version": per_row([i.version for i in items]),
        "train_end": per_row([i.train_end for i in items]),
        "Store": col("Store"),
        "Date": np.datetime_as_string(col("Date").astype("datetime64[D]")),
        "DayOfWeek": col("DayOfWeek"), "Open": col("Open"), "Promo": col("Promo"),
        "StateHoliday": [h for i in items for h in i.columns["StateHoliday"]],
        "SchoolHoliday": col("SchoolHoliday"),
        "Id": np.array([x for i in items for x in i.ids], dtype=object),
        "Sales": values[:, 0], "lower": values[:, 1], "upper": values[:, 2],
    })
    return frame[list(LOG_COLUMNS)]
