"""Start and stop real server / gateway processes for end-to-end tests and benchmarks:
loopback only, free ports, each in its own process group, logs to a file."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]


# Test servers listen below 49152: port 0 would hand out a port of the kernel's ephemeral range
# (32768-60999 on Linux), where outgoing connections also take theirs, and Kedro-Viz refuses
# ports above 49151.
PORT_RANGE = (20000, 49151)


def free_port() -> int:
    """A port in PORT_RANGE nobody listens on at the moment (random, so parallel tests differ)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(*PORT_RANGE)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORT_RANGE}")


def _spawn(args: list[str], log: Path, extra_env: dict[str, str] | None = None
           ) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), DO_NOT_TRACK="1",
               KEDRO_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1", **(extra_env or {}))
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "grpc_server", *args], cwd=REPO_ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def start_server(project: Path, log: Path, *extra: str, port: int | None = None,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    proc = _spawn(["serve", "--port", str(port), "--project-path", str(project), *extra], log,
                  env)
    return proc, port


def start_gateway(grpc_port: int, log: Path, *extra: str,
                  env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = _spawn(["gateway", "--port", str(port), "--grpc-target", f"127.0.0.1:{grpc_port}",
                   *extra], log, env)
    return proc, port


def wait_serving(proc: subprocess.Popen, port: int, log: Path, timeout: float = 120,
                 credentials: grpc.ChannelCredentials | None = None) -> None:
    """Block until grpc.health.v1 says SERVING (a model is loaded). `credentials`: TLS."""
    deadline = time.monotonic() + timeout
    target = f"127.0.0.1:{port}"
    with (grpc.insecure_channel(target) if credentials is None
          else grpc.secure_channel(target, credentials)) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"server not SERVING after {timeout}s:\n{log.read_text()}")


def wait_http(proc: subprocess.Popen, port: int, log: Path, timeout: float = 120,
              scheme: str = "http", verify: Any = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{scheme}://127.0.0.1:{port}/openapi.json", timeout=5, verify=verify)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"gateway not up after {timeout}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM the process group (graceful drain), SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


@contextmanager
def server_and_gateway(project: Path, logs: Path, *server_args: str) -> Iterator[dict]:
    """A SERVING gRPC server on `project` and a gateway in front of it, stopped on exit;
    yields their addresses (`grpc` host:port, `http` base URL) and the server's exit code
    after exit (`server_rc`)."""
    server, gport = start_server(project, logs / "server.log", *server_args)
    gateway = None
    info: dict = {"grpc": f"127.0.0.1:{gport}", "logs": logs}
    try:
        wait_serving(server, gport, logs / "server.log")
        gateway, hport = start_gateway(gport, logs / "gateway.log")
        wait_http(gateway, hport, logs / "gateway.log")
        info["http"] = f"http://127.0.0.1:{hport}"
        yield info
    finally:
        if gateway is not None:
            stop(gateway)
        info["server_rc"] = stop(server)
