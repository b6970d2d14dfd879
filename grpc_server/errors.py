"""Errors the serving layer raises on purpose, each tied to the gRPC status a client sees, and the
grpc-gateway mapping of those statuses to HTTP (so REST and gRPC clients get the same story)."""

from __future__ import annotations

from http import HTTPStatus

import grpc


class ServingError(Exception):
    """A request the server refuses, with the status code that tells the client what to do."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServingError):
    """A row or field is wrong; fixing the request fixes it."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServingError):
    """Unknown model or model version."""

    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(ServingError):
    """Batch larger than the configured limit: split it."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ServingError):
    """The requested model version exists on disk but cannot be served (corrupt or invalid)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ServingError):
    """The model is known but no version is loaded (yet): retry later."""

    code = grpc.StatusCode.UNAVAILABLE


class Internal(ServingError):
    """The server or a model failed (a bug, not the request's fault); details in the log."""

    code = grpc.StatusCode.INTERNAL


# grpc-gateway's runtime.HTTPStatusFromCode, verbatim.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: HTTPStatus.OK,
    grpc.StatusCode.CANCELLED: 499,  # client closed request
    grpc.StatusCode.UNKNOWN: HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.DEADLINE_EXCEEDED: HTTPStatus.GATEWAY_TIMEOUT,
    grpc.StatusCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: HTTPStatus.CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
    grpc.StatusCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    grpc.StatusCode.FAILED_PRECONDITION: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.ABORTED: HTTPStatus.CONFLICT,
    grpc.StatusCode.OUT_OF_RANGE: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.UNIMPLEMENTED: HTTPStatus.NOT_IMPLEMENTED,
    grpc.StatusCode.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
    grpc.StatusCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def http_status(code: grpc.StatusCode) -> int:
    """HTTP status for a gRPC status code, as grpc-gateway maps it (unknown codes -> 500)."""
    return int(GRPC_TO_HTTP.get(code, HTTPStatus.INTERNAL_SERVER_ERROR))


def error_body(code: grpc.StatusCode, message: str) -> dict[str, object]:
    """grpc-gateway's JSON error body: numeric gRPC code, its message, no details."""
    return {"code": code.value[0], "message": message, "details": []}
