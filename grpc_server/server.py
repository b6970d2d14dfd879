"""The gRPC server process: ForecastService + grpc.health.v1 + server reflection, models from the
project's Kedro catalog, and a graceful drain on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from grpc_server import metrics as prom
from grpc_server.prediction_log import PredictionLogWriter
from grpc_server.registry import ModelRegistry, load_project_catalog
from grpc_server.security import (
    TLSFiles,
    TokenAuthInterceptor,
    check_exposure,
    server_credentials,
)
from grpc_server.servicer import ArrivalTimeInterceptor, ForecastServicer
from grpc_server.store_data import StoreData
from rossmann.v1 import forecast_pb2, forecast_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = forecast_pb2.DESCRIPTOR.services_by_name["ForecastService"].full_name
# how often the main thread looks for a SIGINT/SIGTERM recorded by the signal handler
_SIGNAL_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ServingConfig:
    """`serving:` in conf/base/parameters_serving.yml, the one owner of these values (no defaults
    here); CLI flags override single fields."""

    models: dict[str, str]
    default_model: str
    max_batch_rows: int
    coalesce_max_rows: int
    reload_poll_seconds: float
    pinned_versions_cached: int
    grace_seconds: float
    drain_linger_seconds: float
    max_message_mb: int
    future_version_tolerance_seconds: float
    max_concurrent_rpcs: int
    max_reflection_streams: int
    max_connection_age_seconds: float
    call_deadline_seconds: float
    max_forecast_days: int
    metrics_port: int
    prediction_log: bool
    prediction_log_max_queued_requests: int

    @classmethod
    def from_params(cls, params: dict[str, Any], **overrides: Any) -> ServingConfig:
        """Strict: `serving:` must set exactly the fields; an unknown or missing key is named."""
        known = {f.name for f in fields(cls)}
        values = dict(params["serving"])
        unknown, missing = sorted(set(values) - known), sorted(known - set(values))
        if unknown or missing:
            raise ValueError(f"parameters 'serving' (conf/base/parameters_serving.yml): unknown "
                             f"keys {unknown}, missing keys {missing}")
        # conf/<env> merges into base key by key: an env stops serving a model by mapping it
        # to null
        values["models"] = {name: ds for name, ds in dict(values["models"]).items() if ds}
        config = cls(**values)
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})

    def channel_options(self) -> list[tuple[str, int]]:
        size = self.max_message_mb * 1024 * 1024
        return [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)]

    def server_options(self) -> list[tuple[str, int]]:
        """Connections are recycled after max_connection_age_seconds (clients reconnect
        transparently); calls still running then get grace_seconds more. This bounds how long
        any stream, however idle, can hold a worker thread."""
        return [
            *self.channel_options(),
            ("grpc.max_connection_age_ms", int(self.max_connection_age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", int(self.grace_seconds * 1000)),
        ]


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    registry: ModelRegistry
    health: health.HealthServicer
    config: ServingConfig

    servicer: ForecastServicer
    metrics: prom.ServerMetrics | None = None
    prediction_log: PredictionLogWriter | None = None
    metrics_http: Any | None = None
    metrics_port: int = 0

    def stop(self, grace: float | None = None) -> None:
        """Drain: health says NOT_SERVING and new calls get UNAVAILABLE at once, while the calls
        already being answered finish (up to `grace` s); then the server stops and reloading
        ends. (gRPC's own stop(grace) alone fails calls that arrive as it starts to shut down.)"""
        grace = self.config.grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        self.health.enter_graceful_shutdown()
        self.servicer.in_flight.close()
        pending = self.servicer.in_flight.count
        if not self.servicer.in_flight.wait_idle(grace):
            logger.warning("Grace period of %.1f s over: cancelling %d call(s) still running",
                           grace, self.servicer.in_flight.count)
        logger.info("Drained %d in-flight call(s); stopping", pending)
        # keep refusing new calls (UNAVAILABLE) a moment longer before gRPC's own shutdown,
        # which fails a call that is just arriving with CANCELLED instead
        time.sleep(max(0.0, min(self.config.drain_linger_seconds, deadline - time.monotonic())))
        self.server.stop(max(0.5, deadline - time.monotonic())).wait()
        self.registry.stop()
        if self.prediction_log is not None:  # write what the answered calls queued
            self.prediction_log.close()
        if self.metrics_http is not None:
            self.metrics_http.shutdown()


PREDICTION_LOG_DATASET = "prediction_log"


def open_prediction_log(catalog: Any, config: ServingConfig,
                        metrics: prom.ServerMetrics | None) -> PredictionLogWriter | None:
    """The writer for the catalog's `prediction_log` dataset, unless switched off."""
    if not config.prediction_log:
        logger.info("Prediction log off (serving.prediction_log: false)")
        return None
    if catalog is None or PREDICTION_LOG_DATASET not in catalog:
        logger.info("Prediction log off: no %r dataset in the catalog", PREDICTION_LOG_DATASET)
        return None
    root = getattr(catalog.get(PREDICTION_LOG_DATASET), "path", None)
    if root is None:
        logger.warning("Prediction log off: %r is not a PredictionLogDataset",
                       PREDICTION_LOG_DATASET)
        return None
    return PredictionLogWriter(Path(root), metrics,
                               max_queued_requests=config.prediction_log_max_queued_requests)


class BoundedReflectionServicer(reflection.ReflectionServicer):
    """Server reflection with at most `max_streams` streams open at once (each holds a worker
    thread while it waits for the client's next request); more get RESOURCE_EXHAUSTED."""

    def __init__(self, service_names: tuple[str, ...], max_streams: int) -> None:
        super().__init__(service_names)
        self._slots = threading.BoundedSemaphore(max_streams)
        self.max_streams = max_streams

    def ServerReflectionInfo(self, request_iterator, context):  # gRPC method name
        if not self._slots.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"at most {self.max_streams} reflection streams at once; close one")
        try:
            yield from super().ServerReflectionInfo(request_iterator, context)
        finally:
            self._slots.release()


def _set_health(health_servicer: health.HealthServicer, registry: ModelRegistry) -> None:
    status = (health_pb2.HealthCheckResponse.SERVING if registry.any_serving()
              else health_pb2.HealthCheckResponse.NOT_SERVING)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, status)


def start_server(
    registry: ModelRegistry,
    config: ServingConfig,
    host: str = "127.0.0.1",
    port: int = 50051,
    threads: int = 8,
    reuse_port: bool = False,
    tls: TLSFiles | None = None,
    auth_token: str | None = None,
    metrics_port: int | None = None,
) -> RunningServer:
    """Start serving on host:port (0 = any free port) and start the model poller.

    `reuse_port` lets several worker processes share the port (SO_REUSEPORT, the kernel spreads
    connections); off by default so that a second server on a busy port fails loudly. `tls`
    serves TLS (mutual when it has a CA); `auth_token` requires `authorization: Bearer <token>`
    metadata on every call except grpc.health.v1. `metrics_port` (default
    `config.metrics_port`; 0 = none) exposes Prometheus metrics.
    """
    metrics = prom.ServerMetrics()
    registry.on_event = metrics.model_event
    prediction_log = open_prediction_log(registry.catalog, config, metrics)
    # Streams (reflection) get their own share of threads on top of `threads`, and at most
    # max_reflection_streams of them run at once: idle streams cannot starve unary calls.
    # Beyond max_concurrent_rpcs calls (running + queued) new calls get RESOURCE_EXHAUSTED.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads + config.max_reflection_streams,
                                   thread_name_prefix="grpc"),
        options=[*config.server_options(), ("grpc.so_reuseport", int(reuse_port))],
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        # the arrival stamp first: the token check runs on every call either way
        interceptors=[ArrivalTimeInterceptor(),
                      *([TokenAuthInterceptor(auth_token)] if auth_token else [])],
    )
    servicer = ForecastServicer(
        registry, config.max_batch_rows, config.coalesce_max_rows,
        store_data=StoreData(registry.catalog) if registry.catalog is not None else None,
        max_forecast_days=config.max_forecast_days, metrics=metrics,
        prediction_log=prediction_log, call_deadline_seconds=config.call_deadline_seconds)
    forecast_pb2_grpc.add_ForecastServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1),
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        BoundedReflectionServicer(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            max_streams=config.max_reflection_streams,
        ),
        server,
    )
    _set_health(health_servicer, registry)
    registry.on_change = lambda reg: _set_health(health_servicer, reg)
    if tls is not None:
        bound = server.add_secure_port(f"{host}:{port}", server_credentials(tls))
    else:
        bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    server.start()
    registry.start()
    logger.info("ForecastService listening on %s:%d (models %s, max %d rows per request; %s, %s)",
                host, bound, registry.model_names, config.max_batch_rows,
                "plaintext" if tls is None else "TLS" + (" with client certificates"
                                                         if tls.ca else ""),
                "bearer token required" if auth_token else "no token")
    port_m = config.metrics_port if metrics_port is None else metrics_port
    metrics_http = prom.serve_metrics(metrics.registry, host, port_m, tls=tls,
                                      token=bool(auth_token))
    return RunningServer(server, bound, registry, health_servicer, config, servicer, metrics,
                         prediction_log, metrics_http, port_m if metrics_http else 0)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """One line per record on stderr. Bootstrapping the Kedro project installs the project's
    logging config (rich console, info.log in the cwd), made for pipeline runs; a long-running
    server wants plain lines instead, unless KEDRO_LOGGING_CONFIG asks for something else."""
    if os.environ.get("KEDRO_LOGGING_CONFIG"):
        return
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
    logging.getLogger("kedro").setLevel(logging.WARNING)  # "Loading data from ..." per reload


def serve(
    project_path: Path,
    host: str = "127.0.0.1",
    port: int = 50051,
    env: str | None = None,
    threads: int = 8,
    log_level: str = "INFO",
    processes: int = 1,
    reuse_port: bool = False,
    tls: TLSFiles | None = None,
    auth_token: str | None = None,
    insecure: bool = False,
    worker_metrics: bool = True,
    **overrides: Any,
) -> int:
    """Run until SIGINT/SIGTERM, then drain in-flight calls and exit. Returns the exit code.

    `processes` > 1 starts that many independent worker processes on the same port (gRPC's
    multiprocessing pattern: the GIL makes one process use one core at most); each loads and
    hot-reloads the models itself.
    """
    check_exposure("serve", host, tls=tls is not None, token=bool(auth_token), insecure=insecure)
    if processes > 1:
        return _serve_processes(processes, project_path, host=host, port=port, env=env,
                                threads=threads, log_level=log_level, tls=tls,
                                auth_token=auth_token, insecure=insecure, **overrides)
    catalog, params = load_project_catalog(project_path, env=env)
    configure_logging(log_level)
    config = ServingConfig.from_params(params, **overrides)
    registry = ModelRegistry(
        catalog, models=config.models, default_model=config.default_model,
        poll_interval=config.reload_poll_seconds,
        pinned_cache_size=config.pinned_versions_cached,
        future_version_tolerance_seconds=config.future_version_tolerance_seconds,
    )
    running = start_server(registry, config, host=host, port=port, threads=threads,
                           reuse_port=reuse_port, tls=tls, auth_token=auth_token,
                           metrics_port=None if worker_metrics else 0)
    received: list[int] = []

    def _on_signal(signum: int, _frame: Any) -> None:
        # Only a lock-free append: a second signal (the process group's SIGTERM and the
        # parent's forwarded one arrive together) can interrupt this handler, and a handler
        # that takes a lock (Event.set, logging) then deadlocks on its own thread.
        received.append(signum)

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    while not received:
        time.sleep(_SIGNAL_POLL_SECONDS)
    logger.info("Received %s: draining in-flight calls (up to %.0f s)",
                signal.Signals(received[0]).name, config.grace_seconds)
    running.stop()
    logger.info("ForecastService stopped")
    return 0


def _serve_processes(n: int, project_path: Path, port: int, **kwargs: Any) -> int:
    """Parent of `n` workers sharing `port`: forwards SIGINT/SIGTERM, waits for their drain."""
    import multiprocessing

    if port == 0:
        raise ValueError("--processes > 1 needs an explicit --port (workers share it)")
    # Workers record metrics in memory-mapped files; this process serves their sum.
    created = not os.environ.get(prom.MULTIPROC_ENV)
    metrics_dir = prom.make_multiprocess_dir()
    _catalog, params = load_project_catalog(project_path, env=kwargs.get("env"))
    overrides = {k: v for k, v in kwargs.items() if k in {f.name for f in fields(ServingConfig)}}
    config = ServingConfig.from_params(params, **overrides)
    metrics_http = prom.serve_metrics(None, kwargs.get("host", "127.0.0.1"), config.metrics_port,
                                      tls=kwargs.get("tls"), token=bool(kwargs.get("auth_token")))
    ctx = multiprocessing.get_context("spawn")  # no gRPC state may cross a fork
    workers = [
        ctx.Process(target=serve, args=(project_path,),
                    kwargs={**kwargs, "port": port, "reuse_port": True,
                            "worker_metrics": False},
                    name=f"grpc-worker-{i}")
        for i in range(n)
    ]
    stopping: list[int] = []

    def _forward(signum: int, _frame: Any) -> None:
        stopping.append(signum)  # lock-free: see `serve`
        for w in workers:
            if w.pid is not None and w.is_alive():
                os.kill(w.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, _forward)
    signal.signal(signal.SIGTERM, _forward)
    for w in workers:
        w.start()
    logger.info("Started %d worker processes on port %d: %s", n, port, [w.pid for w in workers])
    for w in workers:
        w.join()
        prom.mark_worker_dead(w.pid)
    if metrics_http is not None:
        metrics_http.shutdown()
    prom.remove_multiprocess_dir(metrics_dir, created)
    codes = [w.exitcode for w in workers]
    logger.info("Workers exited with %s", codes)
    return 0 if stopping and all(c == 0 for c in codes) else 1
