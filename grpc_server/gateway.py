"""REST gateway: a FastAPI app that forwards to the gRPC ForecastService over one channel (it holds
no model). JSON uses Kaggle's test.csv column names; gRPC errors map to HTTP as grpc-gateway
maps them, with grpc-gateway's error body `{"code", "message", "details"}`."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any

import grpc
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from grpc_server.errors import error_body, http_status
from grpc_server.gateway_ops import add_ops_routes
from rossmann.v1 import forecast_pb2, forecast_pb2_grpc

logger = logging.getLogger(__name__)

Binary = Annotated[int, Field(ge=0, le=1, description="0 or 1 (true/false accepted)")]


class Instance(BaseModel):
    """One store-day, as a row of Kaggle's test.csv."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "Store": 1, "Date": "2015-08-01", "DayOfWeek": 6, "Open": 1, "Promo": 0,
            "StateHoliday": "0", "SchoolHoliday": 0, "Id": 1,
        }]},
    )

    Store: int = Field(ge=1, le=2**31 - 1)
    Date: str = Field(description="YYYY-MM-DD")
    DayOfWeek: int | None = Field(
        None, ge=0, le=7, description="1 = Monday .. 7 = Sunday; absent/null/0 = derive from Date")
    Open: Binary | None = Field(None, description="absent = open")
    Promo: Binary
    StateHoliday: str = Field(description='"0" none, "a" public, "b" Easter, "c" Christmas')
    SchoolHoliday: Binary
    Id: int | None = None

    @field_validator("StateHoliday", mode="before")
    @classmethod
    def _holiday_zero(cls, value: Any) -> Any:
        # Kaggle CSVs carry the "no holiday" value both as "0" and as the number 0.
        return "0" if value == 0 and not isinstance(value, bool) else value


class PredictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field("tree", description='model name, e.g. "tree" or "lstm"')
    version: str = Field("", description="catalog version timestamp; empty = latest")
    instances: list[Instance]


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


class ModelsOut(BaseModel):
    models: list[ModelInfoOut]


class ErrorOut(BaseModel):
    code: int
    message: str
    details: list[Any] = []


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 404, 429, 500, 503, 504)
}


def to_proto(body: PredictBody) -> forecast_pb2.PredictRequest:
    StoreDay = forecast_pb2.StoreDay
    rows = [
        StoreDay(
            store=r.Store, date=r.Date, day_of_week=r.DayOfWeek or 0,
            open=None if r.Open is None else bool(r.Open), promo=bool(r.Promo),
            state_holiday=r.StateHoliday, school_holiday=bool(r.SchoolHoliday), id=r.Id,
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
    }


def _grpc_error(exc: grpc.aio.AioRpcError) -> JSONResponse:
    code = exc.code()
    return JSONResponse(status_code=http_status(code), content=error_body(code, exc.details() or ""))


def _location(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def create_app(grpc_target: str, timeout: float = 30.0, max_message_mb: int = 64) -> FastAPI:
    """The gateway app, forwarding to the ForecastService at `grpc_target`."""
    state: dict[str, Any] = {}
    size = max_message_mb * 1024 * 1024

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        channel = grpc.aio.insecure_channel(grpc_target, options=[
            ("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size),
        ])
        state["stub"] = forecast_pb2_grpc.ForecastServiceStub(channel)
        state["health"] = health_pb2_grpc.HealthStub(channel)
        logger.info("REST gateway forwarding to gRPC %s", grpc_target)
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
            resp = await state["stub"].Predict(to_proto(body), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return _grpc_error(exc)
        return from_proto(resp)

    @app.get("/model", response_model=ModelsOut, responses=_ERRORS,
             summary="Loaded model versions, status, training range, metrics, versions on disk")
    async def model(name: Annotated[str, Query(alias="model")] = "") -> Any:
        try:
            resp = await state["stub"].GetModelInfo(
                forecast_pb2.GetModelInfoRequest(model=name), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return _grpc_error(exc)
        return {"models": [info_from_proto(m) for m in resp.models]}

    @app.get("/healthz", summary="200 when the gRPC server serves a model, else 503")
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


def run_gateway(host: str, port: int, grpc_target: str, timeout: float = 30.0,
                access_log: bool = False, log_level: str = "info") -> None:
    """Run uvicorn until SIGINT/SIGTERM (uvicorn finishes in-flight requests before exiting)."""
    import uvicorn

    uvicorn.run(create_app(grpc_target, timeout), host=host, port=port, access_log=access_log,
                log_level=log_level, timeout_graceful_shutdown=30)
