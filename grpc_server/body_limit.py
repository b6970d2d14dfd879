"""ASGI middleware that refuses request bodies over a size limit with 413, before they are
buffered: a declared Content-Length over the limit is refused unread, and a chunked body is
cut off as soon as it passes the limit (a 50 MB body once took the gateway to 1 GB RSS)."""

from __future__ import annotations

import json
from typing import Any

import grpc

from grpc_server.errors import error_body

Scope = dict[str, Any]


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
        too_large = False
        replaced = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, too_large
            if too_large:  # the app asked for more after the cut: there is no more
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # stop reading here; the app sees a truncated body and refuses it, and
                    # that refusal is replaced by the 413 below
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def checked_send(message: dict[str, Any]) -> None:
            nonlocal replaced
            if not too_large:
                await send(message)
            elif not replaced and message["type"] == "http.response.start":
                replaced = True
                await self._refuse_too_large(send, None)

        await self.app(scope, limited_receive, checked_send)

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
