"""Coalescing: concurrent small predictions share model calls, answers equal lone predictions,
and a failing request fails only itself."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from grpc_server.coalesce import Coalescer
from grpc_server.convert import rows_to_frame
from rossmann.v1 import forecast_pb2 as pb
from tests.serving.fake_forecaster import BuggyForecaster, FakeForecaster

KNOWN = np.arange(1, 13, dtype=np.int64)


class CountingForecaster(FakeForecaster):
    """FakeForecaster that takes 5 ms per call and counts its calls and rows."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

        self.gate = lambda: None  # called at the start of the first predict

    def predict(self, rows):
        if not self.calls:
            self.gate()
        self.calls.append(len(rows))
        time.sleep(0.005)
        return super().predict(rows)


def converted(store: int, n: int = 1, day: int = 1):
    rows = [pb.StoreDay(store=store, date=f"2015-08-{day + i:02d}", promo=i % 2 == 1,
                        state_holiday="0", open=True) for i in range(n)]
    return rows_to_frame(rows, KNOWN, 100)


def run_concurrently(coalescer, forecaster, requests) -> list:
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def call(i: int) -> None:
        start.wait()
        try:
            results[i] = coalescer.predict(forecaster, requests[i], "tree v1")
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    model = CountingForecaster()
    coalescer = Coalescer(max_rows=64)
    requests = [converted(store=1 + i % 12, n=1 + i % 3, day=1 + i) for i in range(24)]

    def all_others_waiting() -> None:
        # the first call holds the lead until every other request waits for it (however busy
        # the machine): then they must be coalesced, not merely likely to be
        deadline = time.monotonic() + 60
        while len(coalescer._waiting) < len(requests) - 1 and time.monotonic() < deadline:
            time.sleep(0.001)

    model.gate = all_others_waiting
    results = run_concurrently(coalescer, model, requests)
    for req, got in zip(requests, results, strict=True):
        alone = FakeForecaster().predict(req.frame)[["Sales", "lower", "upper"]].to_numpy()
        np.testing.assert_array_equal(got, alone)
    assert sum(model.calls) == sum(len(r.dates) for r in requests)
    assert len(model.calls) == 2 and coalescer.coalesced == len(requests) - 1


def test_idle_request_is_predicted_at_once_and_big_ones_alone() -> None:
    model = CountingForecaster()
    coalescer = Coalescer(max_rows=4)
    coalescer.predict(model, converted(store=3), "tree v1")
    coalescer.predict(model, converted(store=3, n=10), "tree v1")
    assert model.calls == [1, 10] and coalescer.coalesced == 0


def test_a_failing_request_fails_only_itself() -> None:
    model = BuggyForecaster()  # store 5 -> RuntimeError, store 6 -> ValueError
    coalescer = Coalescer(max_rows=64)
    requests = [converted(store=s) for s in (1, 5, 2, 6, 3, 4, 7, 8)]
    results = run_concurrently(coalescer, model, requests)
    assert isinstance(results[1], RuntimeError) and isinstance(results[3], ValueError)
    assert "row 0: Date" in str(results[3])  # the message names the request's own row
    for i in (0, 2, 4, 5, 6, 7):
        assert isinstance(results[i], np.ndarray) and results[i][0, 0] > 0
    # and it keeps working afterwards
    assert coalescer.predict(model, converted(store=9), "tree v1")[0, 0] > 0


@pytest.mark.parametrize("max_rows", [0, -1])
def test_off(max_rows: int) -> None:
    model = CountingForecaster()
    results = run_concurrently(Coalescer(max_rows), model, [converted(1) for _ in range(6)])
    assert model.calls == [1] * 6 and all(isinstance(r, np.ndarray) for r in results)
