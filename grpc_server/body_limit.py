"""ASGI middleware that refuses request bodies over a size limit with 413, before they are
buffered: a declared Content-Length over the limit is refused unread, and a chunked body is
cut off as soon as it passes the limit (a 50 MB body once took the gateway to 1 GB RSS)."""

from __future__ import annotations

import json
from typing import Any

import grpc

from grpc_server.errors import error_body

Scope = dict[str, Any]


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Wraps an ASGI app; `max_bytes` is the largest request body accepted."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(send, 400, grpc.StatusCode.INVALID_ARGUMENT,
                                   "invalid Content-Length header")
                return
            if int(declared) > self.max_bytes:
                await self._refuse_too_large(send, int(declared))
                return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse_too_large(send, None)

    async def _refuse_too_large(self, send: Any, size: int | None) -> None:
        what = f"{size} bytes" if size is not None else "more"
        await self._refuse(
            send, 413, grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"request body: {what} exceed this gateway's limit of {self.max_bytes} bytes "
            "(--max-body-mb); split the instances into several requests")

    @staticmethod
    async def _refuse(send: Any, status: int, code: grpc.StatusCode, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
