"""Transport security for the server, the gateway and the client, all off by default (loopback):
TLS credentials (server certificate, optional mutual TLS), a shared bearer token checked in
gRPC metadata and REST headers, and the rule that a non-loopback listener needs one of them."""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from grpc_server.errors import error_body

# Environment variables holding tokens (a token on the command line would show in `ps`).
AUTH_TOKEN_ENV = "ROSSMANN_AUTH_TOKEN"  # what this server / gateway requires from its callers
GRPC_TOKEN_ENV = "ROSSMANN_GRPC_TOKEN"  # what the gateway / client sends to the gRPC server
# grpc.health.v1 stays open so that load balancers and orchestrators can probe without a token
UNAUTHENTICATED_GRPC_PREFIXES = ("/grpc.health.v1.Health/",)
# REST paths that need no token: probes and the API description
UNAUTHENTICATED_HTTP_PATHS = ("/healthz", "/livez", "/readyz", "/docs", "/redoc",
                              "/openapi.json", "/static/")
#: Pages served without a token, matched exactly: the explorer's HTML shell holds no data; a
#: browser cannot add a header to a navigation, so the page asks for the token and sends it on
#: its own data calls (/stores, /model, /forecast), which stay protected.
UNAUTHENTICATED_PAGES = frozenset({"/", "/explorer"})


class InsecureBindError(SystemExit):
    """Refusing to listen beyond loopback with neither TLS nor a token."""


def read_token(path: Path | None, env: str) -> str | None:
    """The token from `path` (whitespace stripped) or else the environment variable `env`."""
    if path is not None:
        token = Path(path).read_text().strip()
        if not token:
            raise ValueError(f"token file {path} is empty")
        return token
    return os.environ.get(env) or None


def add_grpc_client_arguments(parser: Any, prefix: str = "") -> None:
    """Options of a gRPC client (the gateway with prefix "grpc-", the CLI client without): TLS
    towards the server, a client certificate for mutual TLS, the bearer token to send."""
    parser.add_argument(f"--{prefix}tls-ca", type=Path, default=None,
                        help="talk TLS to the gRPC server, verifying it with this CA (PEM)")
    parser.add_argument(f"--{prefix}tls-cert", type=Path, default=None,
                        help="client certificate (PEM) for a server that requires mutual TLS")
    parser.add_argument(f"--{prefix}tls-key", type=Path, default=None,
                        help="its private key (PEM)")
    parser.add_argument(f"--{prefix}token-file", type=Path, default=None,
                        help=f"bearer token to send to the gRPC server (default: "
                        f"${GRPC_TOKEN_ENV} if set)")


def tls_files(cert: Path | None, key: Path | None, ca: Path | None) -> TLSFiles | None:
    """TLSFiles from command-line options, or None (plaintext) when none is given."""
    return TLSFiles(cert, key, ca) if cert or key or ca else None


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(what: str, host: str, tls: bool, token: bool, insecure: bool) -> None:
    """Refuse to start a listener beyond loopback that has neither TLS nor a token, unless the
    operator said --insecure (e.g. behind a TLS-terminating proxy on a private network)."""
    if is_loopback(host) or tls or token or insecure:
        return
    raise InsecureBindError(
        f"{what}: refusing to listen on {host} (not loopback) without TLS (--tls-cert/--tls-key) "
        f"or a token (--auth-token-file or ${AUTH_TOKEN_ENV}); pass --insecure to do it anyway")


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: this side's certificate and key, and the CA that verifies the other side."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS needs both a certificate and its key (--tls-cert, --tls-key)")


def _read(path: Path | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def server_credentials(tls: TLSFiles) -> grpc.ServerCredentials:
    """The server's certificate; with `tls.ca`, clients must present a certificate it signed."""
    if tls.cert is None or tls.key is None:
        raise ValueError("serving TLS needs --tls-cert and --tls-key (a client CA alone is not "
                         "enough)")
    return grpc.ssl_server_credentials(
        [(_read(tls.key), _read(tls.cert))], root_certificates=_read(tls.ca),
        require_client_auth=tls.ca is not None)


def channel_credentials(tls: TLSFiles) -> grpc.ChannelCredentials:
    """Verify the server with `tls.ca` (default: the system roots); present `tls.cert` if set."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca), private_key=_read(tls.key),
        certificate_chain=_read(tls.cert))


def token_matches(presented: str | None, token: str) -> bool:
    if not presented or not presented.startswith("Bearer "):
        return False
    return hmac.compare_digest(presented[len("Bearer "):].encode(), token.encode())


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Every RPC but grpc.health.v1 needs `authorization: Bearer <token>` metadata; others get
    UNAUTHENTICATED before any handler runs."""

    def __init__(self, token: str) -> None:
        self._token = token

        def deny(_request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "missing or wrong bearer token (metadata 'authorization: Bearer ...')")

        self._deny_unary = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.stream_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable, handler_call_details: Any) -> Any:
        method = handler_call_details.method or ""
        if method.startswith(UNAUTHENTICATED_GRPC_PREFIXES):
            return continuation(handler_call_details)
        presented = dict(handler_call_details.invocation_metadata or ()).get("authorization")
        if token_matches(presented, self._token):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is not None and (handler.request_streaming or handler.response_streaming):
            return self._deny_stream
        return self._deny_unary


class BearerAuthMiddleware:
    """ASGI: REST calls need `Authorization: Bearer <token>` (401 otherwise), except probes, the
    API docs and static assets (UNAUTHENTICATED_HTTP_PATHS) and the explorer page's HTML shell
    (UNAUTHENTICATED_PAGES)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or path.startswith(UNAUTHENTICATED_HTTP_PATHS)
                or path in UNAUTHENTICATED_PAGES):
            await self.app(scope, receive, send)
            return
        presented = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        if token_matches(presented, self.token):
            await self.app(scope, receive, send)
            return
        body = json.dumps(error_body(grpc.StatusCode.UNAUTHENTICATED,
                                     "missing or wrong bearer token (header "
                                     "'Authorization: Bearer ...')")).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
