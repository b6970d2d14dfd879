"""The gRPC server as a real process under hostile or unlucky conditions: SIGTERM while a
100,000-row batch and a steady stream of single rows are in flight, and idle reflection streams
that must not starve Predict. Every wait is on a condition with a generous deadline."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from grpc_server.registry import load_project_catalog
from rossmann.v1 import forecast_pb2 as pb
from rossmann.v1 import forecast_pb2_grpc as pbg
from tests.serving import processes as procs
from tests.serving.conftest import FAKE_DATASET, save_version, version_ts
from tests.serving.fake_forecaster import FakeForecaster, SlowForecaster

pytestmark = pytest.mark.slow
BIG = 100_000
BIG_OPTIONS = [("grpc.max_send_message_length", 64 << 20),
               ("grpc.max_receive_message_length", 64 << 20)]


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def one_row(store: int = 1) -> pb.PredictRequest:
    return pb.PredictRequest(rows=[pb.StoreDay(store=store, date="2015-08-01",
                                               state_holiday="0")])


def slow_model_served(ws: Path, tmp_path: Path, delay: float, **serving: object) -> Path:
    """Serve a SlowForecaster (`delay` s per request) from `ws` with `serving` settings changed;
    returns the folder where each request's predict call leaves a file when it starts."""
    started = tmp_path / "started"
    started.mkdir()
    catalog, _ = load_project_catalog(ws)
    save_version(catalog, FAKE_DATASET, SlowForecaster(delay=delay, started_dir=str(started)),
                 version_ts(0))
    params = ws / "conf" / "local" / "parameters_serving_test.yml"
    local = yaml.safe_load(params.read_text())  # the complete block conftest.local_serving wrote
    local["serving"].update(serving)
    params.write_text(yaml.safe_dump(local))
    return started


def test_sigterm_drains_a_big_batch_and_single_rows_under_load(fake_workspace: Path,
                                                               tmp_path: Path) -> None:
    """SIGTERM with a 100,000-row batch and single rows in flight: every call already being
    answered completes OK, calls after it get UNAVAILABLE (never CANCELLED), exit code 0."""
    started = slow_model_served(fake_workspace, tmp_path, 1.0, drain_linger_seconds=3)
    log = tmp_path / "server.log"
    server, port = procs.start_server(fake_workspace, log, "--max-batch-rows", str(BIG),
                                      "--grace-seconds", "60")
    results: list[tuple[str, str, float, str]] = []  # (kind, status, monotonic end, details)
    stop, sigterm_sent = threading.Event(), threading.Event()
    try:
        procs.wait_serving(server, port, log)
        big = pb.PredictRequest(rows=[pb.StoreDay(store=1 + i % 12, date="2015-08-01",
                                                  state_holiday="0", id=i) for i in range(BIG)])

        def big_call() -> None:
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=BIG_OPTIONS) as ch:
                try:
                    resp = pbg.ForecastServiceStub(ch).Predict(big, timeout=120)
                    ok = len(resp.predictions) == BIG and resp.predictions[-1].id == BIG - 1
                    results.append(("big", "OK" if ok else "WRONG", time.monotonic(), ""))
                except grpc.RpcError as exc:
                    results.append(("big", exc.code().name, time.monotonic(), exc.details()))

        def single_rows() -> None:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = pbg.ForecastServiceStub(ch)
                # until the first refusal, or one call sent after SIGTERM: a client that keeps
                # hammering a stopping server may race gRPC's final shutdown (CANCELLED)
                while not stop.is_set():
                    after_sigterm = sigterm_sent.is_set()
                    try:
                        sales = stub.Predict(one_row(), timeout=120).predictions[0].sales
                        results.append(("single", "OK" if sales == 106.0 else "WRONG",
                                        time.monotonic(), ""))
                        if after_sigterm:
                            return
                    except grpc.RpcError as exc:
                        results.append(("single", exc.code().name, time.monotonic(),
                                        exc.details()))
                        return

        threads = [threading.Thread(target=big_call)] + [
            threading.Thread(target=single_rows) for _ in range(4)]
        for t in threads:
            t.start()
        # the batch and at least one single row are inside predict() in the server
        wait_for(lambda: any(p.name.startswith(f"{BIG}-") for p in started.iterdir())
                 and any(p.name.startswith("1-") for p in started.iterdir()),
                 what="calls in flight")
        sigterm = time.monotonic()
        sigterm_sent.set()
        server.send_signal(signal.SIGTERM)
        rc = server.wait(90)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        stop.set()
        procs.stop(server)
    assert rc == 0, log.read_text()
    statuses = Counter((kind, status) for kind, status, _, _ in results)
    assert statuses[("big", "OK")] == 1, results
    assert set(statuses) <= {("big", "OK"), ("single", "OK"), ("single", "UNAVAILABLE")}, results
    # single rows that were in flight at SIGTERM completed during the drain
    assert any(k == "single" and s == "OK" and end > sigterm for k, s, end, _ in results), results
    # new calls were refused at once, by the still-listening server, while the batch ran on
    (big_end,) = [end for k, _, end, _ in results if k == "big"]
    refused = [(end, details) for k, s, end, details in results if s == "UNAVAILABLE"]
    assert refused, results
    assert any(end < big_end and "shutting down" in details for end, details in refused), results
    text = log.read_text()
    assert "draining in-flight calls" in text and "ForecastService stopped" in text
    assert "cancelling" not in text


def test_idle_reflection_streams_do_not_starve_predict(fake_workspace: Path,
                                                        tmp_path: Path) -> None:
    """Eight idle server-reflection streams from one client (more than --threads 4) used to
    hold every worker thread, so Predict timed out for everyone. Now streams beyond the limit
    are refused at once and Predict keeps answering."""
    catalog, _ = load_project_catalog(fake_workspace)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    log = tmp_path / "server.log"
    server, port = procs.start_server(fake_workspace, log, "--threads", "4")
    feeds: list[queue.Queue] = []
    try:
        procs.wait_serving(server, port, log)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            streams = []
            for _ in range(8):  # opened, then never sent a request: each waits in the server
                feed: queue.Queue = queue.Queue()
                feeds.append(feed)
                streams.append(reflection.ServerReflectionInfo(iter(feed.get, None),
                                                               timeout=120))
            # the server's limit (max_reflection_streams: 4) refuses the others at once
            wait_for(lambda: sum(s.done() for s in streams) == 4, timeout=30,
                     what="streams beyond the limit refused")
            assert {s.code() for s in streams if s.done()} == {
                grpc.StatusCode.RESOURCE_EXHAUSTED}
            stub = pbg.ForecastServiceStub(channel)
            for store in range(1, 13):  # more calls than threads, one after the other
                assert stub.Predict(one_row(store), timeout=15).predictions[0].sales > 0
            calls = [stub.Predict.future(one_row(s), timeout=15) for s in range(1, 13)]
            assert all(c.result().predictions[0].sales > 0 for c in calls)  # concurrently
            # the open streams still work: a reflection request on one of them is answered
            (open_index,) = [i for i, s in enumerate(streams) if not s.done()][:1]
            feeds[open_index].put(reflection_pb2.ServerReflectionRequest(list_services=""))
            assert next(streams[open_index]).list_services_response.service
    finally:
        for feed in feeds:
            feed.put(None)
        rc = procs.stop(server)
    assert rc == 0, log.read_text()


def test_calls_waiting_past_the_servers_call_deadline_are_refused(fake_workspace: Path,
                                                                   tmp_path: Path) -> None:
    """A call without a client deadline that waits for a worker thread longer than the server's
    `call_deadline_seconds` is answered DEADLINE_EXCEEDED instead of being started late; the
    calls that held the threads finish OK and the server serves on."""
    # two worker threads in all (1 + 1 for reflection), each request predicted alone
    started = slow_model_served(fake_workspace, tmp_path, 3.0, call_deadline_seconds=0.5,
                                max_reflection_streams=1, coalesce_max_rows=0)
    log = tmp_path / "server.log"
    server, port = procs.start_server(fake_workspace, log, "--threads", "1")
    try:
        procs.wait_serving(server, port, log)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pbg.ForecastServiceStub(channel)
            holders = [stub.Predict.future(one_row(s), timeout=120) for s in (1, 2)]
            wait_for(lambda: len(list(started.iterdir())) == 2, timeout=60,
                     what="both worker threads busy predicting")
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(one_row(3))  # no client deadline: the server's applies
            assert refused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "call deadline (0.5 s)" in refused.value.details()
            assert all(h.result().predictions[0].sales > 0 for h in holders)
            assert stub.Predict(one_row(4), timeout=60).predictions[0].sales > 0
    finally:
        rc = procs.stop(server)
    assert rc == 0, log.read_text()
    assert "waited" in log.read_text() and "refused (the server's call deadline" in log.read_text()
