"""Coalescing of concurrent small Predict calls into one `Forecaster.predict` call.

Why: a single-row predict costs ~1 ms, almost all of it per call rather than per row (building
features, walking the trees, DataFrame bookkeeping), and Python threads running it side by side
only fight over the GIL (8 gRPC threads each predicting one row served *fewer* requests per second
than one). So small requests that arrive while a prediction is running wait for it, then the
next of them (the "leader") predicts all waiting rows of the same model version in one call and
hands every caller its own slice. Nothing waits on a timer: an idle server predicts a lone request
at once in the caller's thread, exactly as without coalescing.

Every row's prediction depends on that row only (a property of the Forecaster contract), so a
coalesced answer equals the lone one (bit for bit for the tree's numpy trees; the LSTM's float64
matrix products may differ in the last bits, ~1e-15 relative, with the batch size). If a
coalesced call fails, each request is predicted alone, so a bad request only fails itself and its
error names its own rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grpc_server.convert import ConvertedRows, forecast_values


@dataclass(eq=False)
class _Call:
    forecaster: Any
    converted: ConvertedRows
    label: str  # "model version", for error messages
    done: threading.Event = field(default_factory=threading.Event)
    values: np.ndarray | None = None
    error: BaseException | None = None


class Coalescer:
    """Leader/follower coalescing of small predictions (see the module docstring)."""

    def __init__(self, max_rows: int = 64) -> None:
        self.max_rows = max_rows  # requests with more rows are predicted alone, at once
        self._lock = threading.Lock()
        self._waiting: list[_Call] = []
        self._busy = False
        self.calls = 0  # forecaster.predict calls made (for tests and benchmarks)
        self.coalesced = 0  # requests answered by a shared call

    def predict(self, forecaster: Any, converted: ConvertedRows, label: str) -> np.ndarray:
        """(n, 3) Sales/lower/upper for `converted`; raises what `forecaster.predict` raised."""
        if self.max_rows <= 0 or len(converted.dates) > self.max_rows:
            return _predict_alone(forecaster, converted, label)
        call = _Call(forecaster, converted, label)
        with self._lock:
            self._waiting.append(call)
            leads = not self._busy
            self._busy = True
        if not leads:
            # wait until answered, or woken to lead: then this call is still waiting and
            # goes into the batch this thread predicts
            call.done.wait()
        if call.values is None and call.error is None:
            self._lead()
        if call.error is not None:
            raise call.error
        assert call.values is not None
        return call.values

    def _lead(self) -> None:
        """Predict every waiting call, then pass the lead on (or go idle)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            self._run(batch)
        finally:
            for call in batch:  # never leave a caller hanging, whatever happened
                if call.values is None and call.error is None:
                    call.error = RuntimeError("prediction was not run")
                call.done.set()
            with self._lock:
                if self._waiting:  # arrived meanwhile: the first of them leads the next batch
                    self._waiting[0].done.set()
                else:
                    self._busy = False

    def _run(self, batch: list[_Call]) -> None:
        groups: dict[int, list[_Call]] = {}
        for call in batch:
            groups.setdefault(id(call.forecaster), []).append(call)
        for calls in groups.values():
            self.calls += 1
            if len(calls) > 1:
                try:
                    values = forecast_values(
                        calls[0].forecaster, [c.converted.columns for c in calls],
                        sum(len(c.converted.dates) for c in calls), calls[0].label)
                except Exception:  # retry alone: each request gets its own error
                    pass
                else:
                    self.coalesced += len(calls)
                    start = 0
                    for c in calls:
                        end = start + len(c.converted.dates)
                        c.values, start = values[start:end], end
                        c.done.set()
                    continue
            for c in calls:
                try:
                    c.values = _predict_alone(c.forecaster, c.converted, c.label)
                except BaseException as exc:  # re-raised in the caller's thread
                    c.error = exc
                c.done.set()


def _predict_alone(forecaster: Any, converted: ConvertedRows, label: str) -> np.ndarray:
    return forecast_values(forecaster, [converted.columns], len(converted.dates), label)
