"""The REST gateway as a real process when the gRPC server goes away, gets stuck, or the
gateway itself is told to stop: fast reconnect, a short deadline answered 504 and reported by
/healthz, and a graceful drain that exits 0."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from grpc_server.registry import load_project_catalog
from tests.serving import processes as procs
from tests.serving.conftest import FAKE_DATASET, save_version, version_ts
from tests.serving.fake_forecaster import FakeForecaster, SlowForecaster

pytestmark = pytest.mark.slow
ROW = {"Store": 1, "Date": "2015-08-01", "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0}


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> float:
    """Poll until true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def predict_status(base: str) -> int:
    try:
        return httpx.post(f"{base}/predict", json={"instances": [ROW]}, timeout=30).status_code
    except httpx.HTTPError:
        return -1


@dataclass
class Stack:
    server: subprocess.Popen
    gateway: subprocess.Popen
    base: str
    gateway_log: Path


@contextmanager
def server_and_gateway(workspace: Path, tmp_path: Path, forecaster,
                       *gateway_args: str) -> Iterator[Stack]:
    """A gRPC server serving `forecaster` and a gateway in front of it; both stopped after."""
    catalog, _ = load_project_catalog(workspace)
    save_version(catalog, FAKE_DATASET, forecaster, version_ts(0))
    slog, glog = tmp_path / "server.log", tmp_path / "gateway.log"
    server, gport = procs.start_server(workspace, slog)
    gateway = None
    try:
        procs.wait_serving(server, gport, slog)
        gateway, hport = procs.start_gateway(gport, glog, *gateway_args)
        procs.wait_http(gateway, hport, glog)
        yield Stack(server, gateway, f"http://127.0.0.1:{hport}", glog)
    finally:
        if gateway is not None:
            procs.stop(gateway)
        procs.stop(server)


def test_gateway_reconnects_fast_after_a_server_restart(fake_workspace: Path,
                                                        tmp_path: Path) -> None:
    """With gRPC's default backoff (1 s, x1.6, up to 120 s) the gateway took 16-20 s to use a
    restarted server; with the backoff capped at 1 s it takes about a second."""
    catalog, _ = load_project_catalog(fake_workspace)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    slog, glog = tmp_path / "server.log", tmp_path / "gateway.log"
    server, gport = procs.start_server(fake_workspace, slog)
    gateway = None
    try:
        procs.wait_serving(server, gport, slog)
        gateway, hport = procs.start_gateway(gport, glog)
        procs.wait_http(gateway, hport, glog)
        base = f"http://127.0.0.1:{hport}"
        assert predict_status(base) == 200
        assert procs.stop(server) == 0
        down = time.monotonic()
        # a 25 s outage, the gateway trying meanwhile: long enough that gRPC's default backoff
        # would next try ~14 s after the server is back (attempts at 15.8, 26.3, 43.1 s)
        while time.monotonic() - down < 25:
            assert predict_status(base) == 503
            time.sleep(0.25)
        server, _ = procs.start_server(fake_workspace, slog, port=gport)
        procs.wait_serving(server, gport, slog)
        took = wait_for(lambda: predict_status(base) == 200, timeout=60, what="reconnect")
        logging.getLogger(__name__).info("gateway reconnected %.2f s after the restarted "
                                         "server was SERVING", took)
        assert took < 4.0, f"gateway needed {took:.1f} s to reconnect"
    finally:
        if gateway is not None:
            assert procs.stop(gateway) == 0
        procs.stop(server)


def test_stuck_server_gives_504_within_the_gateway_deadline(fake_workspace: Path,
                                                             tmp_path: Path) -> None:
    """A gRPC server that stops answering (SIGSTOP): /predict answers 504 after the gateway's
    --timeout (2 s here, not 30), /healthz and /readyz report it with 503 while /livez stays
    200; then the server resumes."""
    with server_and_gateway(fake_workspace, tmp_path, FakeForecaster(),
                            "--timeout", "2") as stack:
        base, server = stack.base, stack.server
        assert predict_status(base) == 200
        os.killpg(server.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            resp = httpx.post(f"{base}/predict", json={"instances": [ROW]}, timeout=60)
            took = time.monotonic() - started
            assert resp.status_code == 504 and resp.json()["code"] == 4, resp.text
            assert 1.5 < took < 20, took  # the 2 s deadline, not the old 30 s
            health = httpx.get(f"{base}/healthz", timeout=60)
            assert health.status_code == 503
            assert health.json()["grpc"] == "DEADLINE_EXCEEDED", health.json()
            ready = httpx.get(f"{base}/readyz", timeout=60)
            assert ready.status_code == 503 and ready.json()["grpc"] == "DEADLINE_EXCEEDED"
            assert httpx.get(f"{base}/livez", timeout=60).status_code == 200
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        wait_for(lambda: predict_status(base) == 200, what="server answering again")


def test_gateway_sigterm_drains_in_flight_requests_and_exits_0(fake_workspace: Path,
                                                               tmp_path: Path) -> None:
    started = tmp_path / "started"
    started.mkdir()
    slow = SlowForecaster(delay=2.0, started_dir=str(started))
    with server_and_gateway(fake_workspace, tmp_path, slow, "--timeout", "60") as stack:
        base, gateway, glog = stack.base, stack.gateway, stack.gateway_log
        result: dict = {}

        def call() -> None:
            try:
                result["response"] = httpx.post(f"{base}/predict", timeout=120,
                                                json={"instances": [{**ROW, "Id": 7}]})
            except httpx.HTTPError as exc:
                result["error"] = exc

        t = threading.Thread(target=call)
        t.start()
        wait_for(lambda: any(started.iterdir()), what="request in flight")
        gateway.send_signal(signal.SIGTERM)
        # new connections are refused while the request in flight goes on
        wait_for(lambda: predict_status(base) == -1, what="gateway refusing new connections")
        t.join(120)
        resp = result.get("response")
        assert resp is not None and resp.status_code == 200, result
        assert resp.json()["predictions"][0]["Id"] == 7
        assert gateway.wait(60) == 0, glog.read_text()
        assert "Finished server process" in glog.read_text()
