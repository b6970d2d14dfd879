"""Prometheus metrics of the gRPC server and the REST gateway (prometheus-client).

Each process builds its metrics on its own `CollectorRegistry` (several servers may live in one
test process). With `serve --processes N` every worker writes its values to memory-mapped files
in `PROMETHEUS_MULTIPROC_DIR` and the parent exposes their sum (prometheus-client's multiprocess
mode), so counts add up across workers.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from grpc_server.security import TLSFiles, is_loopback

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Single-row calls take ~1.5 ms; whole test.csv ~0.25 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNKNOWN_MODEL = "unknown"  # label for model names the server does not serve (bounded labels)
__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics", "ServerMetrics", "exposition"]


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class ServerMetrics:
    """What the gRPC server counts: calls, latency, rows, the served versions, reloads, and the
    prediction log's fate."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rossmann_grpc_requests", "gRPC calls by method, model and status code",
            ["method", "model", "code"], registry=r)
        self.latency = Histogram(
            "rossmann_grpc_request_seconds", "gRPC call latency in the server (seconds)",
            ["method", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.rows = Counter(
            "rossmann_rows_predicted", "Store-day rows predicted", ["method", "model"],
            registry=r)
        self.model_version = Gauge(
            "rossmann_model_version_info", "1 for the model version each model serves",
            ["model", "version"], registry=r, multiprocess_mode="livemax")
        self.reloads = Counter(
            "rossmann_model_reloads", "Model versions loaded and swapped in (hot reloads)",
            ["model"], registry=r)
        self.rejected = Counter(
            "rossmann_model_versions_rejected", "Model versions that failed to load or validate",
            ["model"], registry=r)
        self.log_written = Counter(
            "rossmann_prediction_log_written", "Prediction log records written", registry=r)
        self.log_dropped = Counter(
            "rossmann_prediction_log_dropped",
            "Prediction log records dropped because the writer queue was full", registry=r)
        self.log_failed = Counter(
            "rossmann_prediction_log_write_failures",
            "Prediction log records lost to write errors (full disk, unwritable folder)",
            registry=r)
        self._versions: dict[str, str] = {}

    def model_event(self, event: str, model: str, version: str) -> None:
        """Registry hook: `reloaded` (a version now serves) or `rejected`."""
        if event == "rejected":
            self.rejected.labels(model).inc()
            return
        self.reloads.labels(model).inc()
        old = self._versions.get(model)
        if old is not None and old != version:
            self.model_version.labels(model, old).set(0)
        self.model_version.labels(model, version).set(1)
        self._versions[model] = version


class GatewayMetrics:
    """What the REST gateway counts: HTTP requests by route, model and status, and latency."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "rossmann_http_requests", "REST requests by route, method, model and status code",
            ["route", "method", "model", "status"], registry=self.registry)
        self.latency = Histogram(
            "rossmann_http_request_seconds", "REST request latency in the gateway (seconds)",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format of `registry`, or of all workers' files in multiprocess mode."""
    if multiprocess_mode():
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
    return generate_latest(registry)


def serve_metrics(registry: CollectorRegistry | None, host: str, port: int,
                  tls: TLSFiles | None = None, token: bool = False) -> Any | None:
    """Expose metrics on host:port (a daemon thread) with the gRPC port's protection: over TLS
    with its certificate when it has one (client certificates required when it requires them);
    a token-only server beyond loopback keeps them on 127.0.0.1, as a scrape cannot carry the
    bearer token. None when `port` is 0 or the port is taken (metrics are never worth failing
    to serve predictions)."""
    if port <= 0:
        return None
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    if tls is None and token and not is_loopback(host):
        logger.warning("Metrics stay on 127.0.0.1 (not %s): the server takes a bearer token but "
                       "no TLS, and a Prometheus scrape cannot send the token; give the server "
                       "--tls-cert/--tls-key to expose them", host)
        host = "127.0.0.1"
    tls_args: dict[str, Any] = {}
    if tls is not None:
        tls_args = {"certfile": str(tls.cert), "keyfile": str(tls.key),
                    "client_cafile": str(tls.ca) if tls.ca else None,
                    "client_auth_required": tls.ca is not None}
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry, **tls_args)
    except OSError as exc:
        logger.error("Metrics not exposed: cannot bind %s:%d (%s)", host, port, exc)
        return None
    logger.info("Prometheus metrics on %s://%s:%d/metrics%s", "http" if tls is None else "https",
                host, port, " (client certificates required)" if tls_args.get(
                    "client_auth_required") else "")
    return server


def make_multiprocess_dir() -> str:
    """A fresh PROMETHEUS_MULTIPROC_DIR for this server's workers (set in os.environ, so the
    spawned workers inherit it), unless the operator set one."""
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        os.makedirs(existing, exist_ok=True)
        for name in os.listdir(existing):  # stale files of an earlier run would add up too
            if name.endswith(".db"):
                os.remove(os.path.join(existing, name))
        return existing
    path = tempfile.mkdtemp(prefix="rossmann-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def remove_multiprocess_dir(path: str, created: bool) -> None:
    if created:
        shutil.rmtree(path, ignore_errors=True)


def mark_worker_dead(pid: int) -> None:
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)
