"""`python -m grpc_server serve|gateway|client ...` — see `--help` of each."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from grpc_server import client
from grpc_server.security import (
    AUTH_TOKEN_ENV,
    GRPC_TOKEN_ENV,
    add_grpc_client_arguments,
    read_token,
    tls_files,
)


def _project_root_default() -> Path:
    """cwd when it is a Kedro project, else the repository this package lives in."""
    cwd = Path.cwd()
    if (cwd / "pyproject.toml").is_file() and (cwd / "conf").is_dir():
        return cwd
    return Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grpc_server",
        description="Serve the project's sales forecasters over gRPC (serve), REST (gateway), "
        "or call them (client).",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "serve", help="run the gRPC ForecastService",
        description="Run rossmann.v1.ForecastService (+ grpc.health.v1 and reflection). Models "
        "come from the Kedro catalog of --project-path; new versions are picked up while "
        "running. Ctrl-C / SIGTERM drains in-flight calls.",
    )
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=50051, help="0 = any free port")
    s.add_argument("--project-path", type=Path, default=None,
                   help="Kedro project whose catalog holds the models (default: cwd if it is "
                   "a Kedro project, else this repository)")
    s.add_argument("--env", default=None, help="Kedro config environment (default: local)")
    s.add_argument("--threads", type=int, default=8, help="gRPC worker threads per process")
    s.add_argument("--processes", type=int, default=1,
                   help="worker processes sharing the port (SO_REUSEPORT); 1 = in this process")
    s.add_argument("--max-batch-rows", type=int, default=None,
                   help="override serving.max_batch_rows")
    s.add_argument("--poll-seconds", type=float, default=None, dest="reload_poll_seconds",
                   help="override serving.reload_poll_seconds")
    s.add_argument("--grace-seconds", type=float, default=None,
                   help="override serving.grace_seconds")
    s.add_argument("--coalesce-max-rows", type=int, default=None,
                   help="override serving.coalesce_max_rows (0 = every request predicted alone)")
    s.add_argument("--metrics-port", type=int, default=None,
                   help="override serving.metrics_port (Prometheus /metrics; 0 = off)")
    s.add_argument("--prediction-log", action=argparse.BooleanOptionalAction, default=None,
                   help="override serving.prediction_log (append served predictions to the "
                   "catalog's prediction_log dataset)")
    _security_arguments(s, "gRPC")

    g = sub.add_parser(
        "gateway", help="run the REST gateway (FastAPI) in front of a gRPC server",
        description="REST/JSON gateway: POST /predict, GET /model, GET /healthz, docs at /docs.",
    )
    g.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    g.add_argument("--port", type=int, default=8000)
    g.add_argument("--grpc-target", default=client.DEFAULT_TARGET,
                   help="host:port of the gRPC server")
    g.add_argument("--timeout", type=float, default=10.0,
                   help="gRPC deadline per call, seconds (past it: 504; default 10)")
    g.add_argument("--max-body-mb", type=float, default=16.0,
                   help="largest request body accepted, MB (larger: 413; default 16, about "
                   "130,000 instances)")
    g.add_argument("--grace-seconds", type=float, default=30.0,
                   help="SIGTERM: time in-flight requests get to finish (default 30)")
    g.add_argument("--access-log", action="store_true", help="log every request")
    _security_arguments(g, "HTTPS")
    add_grpc_client_arguments(g, prefix="grpc-")

    c = sub.add_parser("client", help="call a running gRPC server",
                       description="Predict a test.csv-format file, or print model info/health.")
    client.add_arguments(c)
    return parser


def _security_arguments(parser: argparse.ArgumentParser, tls_kind: str) -> None:
    parser.add_argument("--tls-cert", type=Path, default=None,
                        help=f"serve {tls_kind} with this certificate (PEM; with --tls-key)")
    parser.add_argument("--tls-key", type=Path, default=None, help="its private key (PEM)")
    if tls_kind == "gRPC":
        parser.add_argument("--tls-client-ca", type=Path, default=None,
                            help="mutual TLS: require client certificates signed by this CA")
    parser.add_argument("--auth-token-file", type=Path, default=None,
                        help="require 'Authorization: Bearer <token>' with the token in this "
                        f"file (default: ${AUTH_TOKEN_ENV} if set; health probes are exempt)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a non-loopback --host with neither TLS nor a token")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "client":
        return client.run(args)
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Kedro 1.7 / omegaconf deprecation noise on every catalog build; not ours to fix.
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    from grpc_server.server import LOG_FORMAT

    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    auth_token = read_token(args.auth_token_file, AUTH_TOKEN_ENV)
    if args.command == "serve":
        from grpc_server.server import serve

        return serve(
            (args.project_path or _project_root_default()).resolve(), host=args.host,
            port=args.port, env=args.env, threads=args.threads, log_level=args.log_level,
            processes=args.processes,
            tls=tls_files(args.tls_cert, args.tls_key, args.tls_client_ca),
            auth_token=auth_token,
            insecure=args.insecure,
            max_batch_rows=args.max_batch_rows, reload_poll_seconds=args.reload_poll_seconds,
            grace_seconds=args.grace_seconds, coalesce_max_rows=args.coalesce_max_rows,
            metrics_port=args.metrics_port, prediction_log=args.prediction_log,
        )
    from grpc_server.gateway import run_gateway

    return run_gateway(
        args.host, args.port, args.grpc_target, timeout=args.timeout,
        access_log=args.access_log, log_level=args.log_level.lower(),
        max_body_mb=args.max_body_mb, grace_seconds=args.grace_seconds,
        tls=tls_files(args.tls_cert, args.tls_key, None), auth_token=auth_token,
        insecure=args.insecure,
        grpc_tls=tls_files(args.grpc_tls_cert, args.grpc_tls_key, args.grpc_tls_ca),
        grpc_token=read_token(args.grpc_token_file, GRPC_TOKEN_ENV),
    )


if __name__ == "__main__":
    sys.exit(main())
