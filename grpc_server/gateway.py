"""REST gateway: a FastAPI app that forwards to the gRPC ForecastService over one channel (it holds
no model). JSON uses Kaggle's test.csv column names; gRPC errors map to HTTP as grpc-gateway
maps them, with grpc-gateway's error body `{"code", "message", "details"}`."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import grpc
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from grpc_server.body_limit import BodyLimitMiddleware
from grpc_server.errors import error_body, http_status
from grpc_server.gateway_ops import add_ops_routes
from grpc_server.security import (
    BearerAuthMiddleware,
    TLSFiles,
    bearer_metadata,
    channel_credentials,
    check_exposure,
)
from rossmann.v1 import forecast_pb2, forecast_pb2_grpc

logger = logging.getLogger(__name__)

# Strict types: JSON numbers where numbers are meant, never "1", true or 1.0 for a Store or an
# Id. The binary flags take 0/1 or false/true on purpose (both appear in the wild). The OpenAPI
# schema generated from these models is exactly what is accepted (tested with schemathesis).
Binary = Annotated[StrictInt, Field(ge=0, le=1)] | StrictBool
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class Instance(BaseModel):
    """One store-day, as a row of Kaggle's test.csv."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "Store": 1, "Date": "2015-08-01", "DayOfWeek": 6, "Open": 1, "Promo": 0,
            "StateHoliday": "0", "SchoolHoliday": 0, "Id": 1,
        }]},
    )

    Store: StrictInt = Field(ge=1, le=2**31 - 1)
    Date: StrictStr = Field(pattern=DATE_PATTERN,
                            description="YYYY-MM-DD (a real calendar date, 1678-01-01..2261-12-31)")
    DayOfWeek: StrictInt | None = Field(
        None, ge=0, le=7, description="1 = Monday .. 7 = Sunday; absent/null/0 = derive from Date")
    Open: Binary | None = Field(None, description="0/1 or false/true; absent/null = open")
    Promo: Binary = Field(description="0/1 or false/true")
    # Kaggle CSVs carry "no holiday" both as "0" and as the number 0
    StateHoliday: Literal["0", "a", "b", "c"] | Annotated[StrictInt, Field(ge=0, le=0)] = Field(
        description='"0" (or 0) none, "a" public, "b" Easter, "c" Christmas')
    SchoolHoliday: Binary = Field(description="0/1 or false/true")
    Id: StrictInt | None = Field(None, ge=INT64_MIN, le=INT64_MAX,
                                 description="echoed back with the prediction (int64)")


class PredictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr = Field("tree", description='model name, e.g. "tree" or "lstm"')
    version: StrictStr = Field("", description="catalog version timestamp; empty = latest")
    instances: list[Instance] = Field(min_length=1, description="at least one store-day")


class PredictionOut(BaseModel):
    Id: int | None
    Store: int
    Date: str
    Sales: float
    lower: float
    upper: float


class PredictOut(BaseModel):
    model: str
    version: str
    predictions: list[PredictionOut]


class MetricsOut(BaseModel):
    rmspe: float | None
    rmse: float | None
    mae: float | None


class IntervalCoverageOut(BaseModel):
    level: float
    coverage: float
    mean_relative_width: float
    coverage_by_week: list[float]


class BacktestOut(BaseModel):
    """Rolling-origin backtest figures the served version was chosen on."""

    fold_origins: list[str]
    horizon_days: int
    chosen: str
    mean_rmspe: float
    std_rmspe: float
    fold_rmspe: list[float]
    bias_factor: float
    intervals: list[IntervalCoverageOut]
    event_weights: dict[str, float] = {}


class ModelInfoOut(BaseModel):
    name: str
    dataset: str
    version: str
    status: str
    error: str
    loaded_at: str
    trained_at: str
    train_start: str
    train_end: str
    metrics: MetricsOut
    interval_level: float
    feature_names: list[str]
    n_stores: int
    versions_on_disk: list[str]
    backtest: BacktestOut | None = None


class ModelsOut(BaseModel):
    models: list[ModelInfoOut]


class ErrorOut(BaseModel):
    code: int
    message: str
    details: list[Any] = []


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 404, 413, 429, 500, 503, 504)
}


_HTTP_TO_GRPC = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
                 403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
                 405: grpc.StatusCode.UNIMPLEMENTED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
                 415: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.INVALID_ARGUMENT}


class HealthOut(BaseModel):
    status: str
    grpc: str | None = None
    message: str | None = None


def _text_error(exc: Exception) -> JSONResponse:
    # e.g. a lone UTF-16 surrogate ("\ud800") is valid JSON but not a protobuf string
    return JSONResponse(status_code=400, content=error_body(
        grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: text is not valid Unicode "
        f"({type(exc).__name__})"))


def to_proto(body: PredictBody) -> forecast_pb2.PredictRequest:
    StoreDay = forecast_pb2.StoreDay
    rows = [
        StoreDay(
            store=r.Store, date=r.Date, day_of_week=r.DayOfWeek or 0,
            open=None if r.Open is None else bool(r.Open), promo=bool(r.Promo),
            state_holiday=str(r.StateHoliday), school_holiday=bool(r.SchoolHoliday), id=r.Id,
        )
        for r in body.instances
    ]
    return forecast_pb2.PredictRequest(model=body.model, version=body.version, rows=rows)


def from_proto(resp: forecast_pb2.PredictResponse) -> dict[str, Any]:
    return {
        "model": resp.model,
        "version": resp.version,
        "predictions": [
            {"Id": p.id if p.HasField("id") else None, "Store": p.store, "Date": p.date,
             "Sales": p.sales, "lower": p.lower, "upper": p.upper}
            for p in resp.predictions
        ],
    }


def info_from_proto(info: forecast_pb2.ModelInfo) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if x != x else x  # NaN (metric unknown) -> null

    return {
        "name": info.name, "dataset": info.dataset, "version": info.version,
        "status": forecast_pb2.ModelInfo.Status.Name(info.status), "error": info.error,
        "loaded_at": info.loaded_at, "trained_at": info.trained_at,
        "train_start": info.train_start, "train_end": info.train_end,
        "metrics": {"rmspe": num(info.metrics.rmspe), "rmse": num(info.metrics.rmse),
                    "mae": num(info.metrics.mae)},
        "interval_level": info.interval_level, "feature_names": list(info.feature_names),
        "n_stores": info.n_stores, "versions_on_disk": list(info.versions_on_disk),
        "backtest": (MessageToDict(info.backtest, preserving_proto_field_name=True,
                                   always_print_fields_with_no_presence=True)
                     if info.HasField("backtest") else None),
    }


def _grpc_error(exc: grpc.aio.AioRpcError) -> JSONResponse:
    """The server's status and message as they are; failures of the connection itself (which
    name internal addresses) become a short reason, with the details in the gateway log."""
    code, message = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in message.lower():
        logger.warning("gRPC server unreachable: %s", message)
        message = "the forecasting service is unreachable; retry later"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED and message.lower() == "deadline exceeded":
        message = "the forecasting service did not answer within the gateway's deadline"
    return JSONResponse(status_code=http_status(code), content=error_body(code, message))


def _location(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def grpc_channel_options(max_message_mb: int = 64) -> list[tuple[str, int]]:
    """Message limits, and a reconnect backoff capped at 1 s: with gRPC's defaults (1 s growing
    1.6x up to 120 s) the gateway took 16-20 s to notice a restarted server."""
    size = max_message_mb * 1024 * 1024
    return [
        ("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size),
        ("grpc.initial_reconnect_backoff_ms", 250), ("grpc.min_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def create_app(
    grpc_target: str,
    timeout: float = 10.0,
    max_message_mb: int = 64,
    max_body_mb: float = 16.0,
    auth_token: str | None = None,
    grpc_tls: TLSFiles | None = None,
    grpc_token: str | None = None,
) -> FastAPI:
    """The gateway app, forwarding to the ForecastService at `grpc_target` with a `timeout` s
    deadline per call. Request bodies over `max_body_mb` get 413; with `auth_token`, REST calls
    need `Authorization: Bearer <token>`; `grpc_tls` / `grpc_token` secure the gRPC side."""
    metadata = bearer_metadata(grpc_token)
    state: dict[str, Any] = {"metadata": metadata}  # the ops routes send it too

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        options = grpc_channel_options(max_message_mb)
        channel = (grpc.aio.insecure_channel(grpc_target, options=options) if grpc_tls is None
                   else grpc.aio.secure_channel(grpc_target, channel_credentials(grpc_tls),
                                                options=options))
        state["stub"] = forecast_pb2_grpc.ForecastServiceStub(channel)
        state["health"] = health_pb2_grpc.HealthStub(channel)
        logger.info("REST gateway forwarding to gRPC %s (%s%s), deadline %.1f s", grpc_target,
                    "TLS" if grpc_tls else "plaintext", ", bearer token" if grpc_token else "",
                    timeout)
        yield
        await channel.close()

    app = FastAPI(
        title="Rossmann sales forecasts",
        version="v1",
        description="REST gateway to the gRPC `rossmann.v1.ForecastService`. Errors carry the "
        "gRPC status code and message (`rows[i].field` in messages = `instances[i]` here).",
        lifespan=lifespan,
        docs_url=None,  # served by add_ops_routes from local files (no CDN)
        redoc_url=None,
    )
    add_ops_routes(app, state, timeout)
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(max_body_mb * 1024 * 1024))
    if auth_token:
        app.add_middleware(BearerAuthMiddleware, token=auth_token)  # outermost: checked first

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own refusals (a body that is not JSON, an unknown path, a wrong method)
        # in the same error body as every other error
        code = _HTTP_TO_GRPC.get(exc.status_code, grpc.StatusCode.UNKNOWN)
        return JSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None),
                            content=error_body(code, str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def _invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Same contract as the gRPC server: 400 + INVALID_ARGUMENT, naming the row and field.
        msgs = [f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', '')}"
                for e in exc.errors()[:5]]
        more = f" ... ({len(exc.errors())} errors)" if len(exc.errors()) > 5 else ""
        return JSONResponse(
            status_code=400,
            content=error_body(grpc.StatusCode.INVALID_ARGUMENT,
                               "invalid request: " + "; ".join(msgs) + more),
        )

    @app.post("/predict", response_model=PredictOut, responses=_ERRORS,
              summary="Forecast sales for store-days (Kaggle test.csv rows)")
    async def predict(body: PredictBody, request: Request) -> Any:
        request.state.model = body.model
        try:
            message = to_proto(body)
        except (ValueError, UnicodeError) as exc:
            return _text_error(exc)
        try:
            resp = await state["stub"].Predict(message, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return _grpc_error(exc)
        return from_proto(resp)

    @app.get("/model", response_model=ModelsOut, responses=_ERRORS,
             summary="Loaded model versions, status, training range, metrics, versions on disk")
    async def model(name: Annotated[str, Query(alias="model")] = "") -> Any:
        try:
            request = forecast_pb2.GetModelInfoRequest(model=name)
        except (ValueError, UnicodeError) as exc:
            return _text_error(exc)
        try:
            resp = await state["stub"].GetModelInfo(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return _grpc_error(exc)
        return {"models": [info_from_proto(m) for m in resp.models]}

    @app.get("/healthz", summary="200 when the gRPC server serves a model, else 503",
             response_model=HealthOut, responses={503: {"model": HealthOut}})
    async def healthz() -> JSONResponse:
        try:
            resp = await state["health"].Check(health_pb2.HealthCheckRequest(service=""),
                                               timeout=min(timeout, 2.0))
        except grpc.aio.AioRpcError as exc:
            return JSONResponse(status_code=503, content={
                "status": "UNAVAILABLE", "grpc": exc.code().name, "message": exc.details()})
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        return JSONResponse(status_code=200 if status == "SERVING" else 503,
                            content={"status": status})

    return app


def run_gateway(
    host: str,
    port: int,
    grpc_target: str,
    timeout: float = 10.0,
    access_log: bool = False,
    log_level: str = "info",
    max_body_mb: float = 16.0,
    grace_seconds: float = 30.0,
    tls: TLSFiles | None = None,
    auth_token: str | None = None,
    insecure: bool = False,
    grpc_tls: TLSFiles | None = None,
    grpc_token: str | None = None,
) -> int:
    """Run uvicorn until SIGINT/SIGTERM: it stops accepting connections, lets in-flight requests
    finish (up to `grace_seconds`), and this returns 0."""
    import signal

    import uvicorn

    check_exposure("gateway", host, tls=tls is not None, token=bool(auth_token),
                   insecure=insecure)
    if tls is not None and (tls.cert is None or tls.key is None):
        raise ValueError("HTTPS needs --tls-cert and --tls-key")
    app = create_app(grpc_target, timeout, max_body_mb=max_body_mb, auth_token=auth_token,
                     grpc_tls=grpc_tls, grpc_token=grpc_token)
    # uvicorn drains on SIGINT/SIGTERM, then re-raises the signal to the handler installed
    # before it: a no-op here, so that a completed drain exits 0 rather than "killed by SIGTERM"
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level=log_level,
                timeout_graceful_shutdown=grace_seconds,
                ssl_certfile=str(tls.cert) if tls else None,
                ssl_keyfile=str(tls.key) if tls else None)
    return 0
