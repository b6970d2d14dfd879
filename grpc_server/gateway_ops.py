"""The gateway's operational surface, beside /predict and /model: the forecast explorer page
(`/`, `/explorer`) and the endpoints it calls (`/forecast`, `/stores`), Prometheus `/metrics`,
`/livez` and `/readyz`, and Swagger UI / ReDoc at `/docs` / `/redoc` with their scripts served
from installed packages (plotly's plotly.js, fastapi-offline's Swagger UI), never from a CDN."""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import math
import time
from functools import lru_cache
from typing import Annotated, Any

import grpc
from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from grpc_server.errors import error_body, http_status
from grpc_server.metrics import CONTENT_TYPE_LATEST, GatewayMetrics, exposition
from rossmann.v1 import forecast_pb2

logger = logging.getLogger(__name__)

EXPLORER_DIR = importlib.resources.files("grpc_server") / "explorer"
SWAGGER_DIR = importlib.resources.files("fastapi_offline") / "static"
_ERRORS: dict[int | str, dict[str, Any]] = {s: {"description": "error body {code, message}"}
                                            for s in (400, 404, 500, 503, 504)}


class StoreOut(BaseModel):
    Store: int
    StoreType: str
    Assortment: str
    CompetitionDistance: float | None
    CompetitionOpenSince: str
    Promo2: bool
    Promo2Since: str
    PromoInterval: str
    HistoryEnd: str


class StoresOut(BaseModel):
    stores: list[StoreOut]


class HistoryDayOut(BaseModel):
    Date: str
    Sales: float
    Open: int
    Promo: int
    StateHoliday: str
    SchoolHoliday: int


class ForecastDayOut(BaseModel):
    Date: str
    Open: int
    Promo: int
    StateHoliday: str
    SchoolHoliday: int
    source: str
    Sales: float
    lower: float
    upper: float


class ForecastOut(BaseModel):
    model: str
    version: str
    interval_level: float
    store: StoreOut
    rows_from_test: int
    rows_from_rules: int
    history: list[HistoryDayOut]
    forecast: list[ForecastDayOut]


def store_from_proto(s: forecast_pb2.StoreInfo) -> dict[str, Any]:
    dist = s.competition_distance
    return {
        "Store": s.store, "StoreType": s.store_type, "Assortment": s.assortment,
        "CompetitionDistance": None if math.isnan(dist) else dist,
        "CompetitionOpenSince": s.competition_open_since, "Promo2": s.promo2,
        "Promo2Since": s.promo2_since, "PromoInterval": s.promo_interval,
        "HistoryEnd": s.history_end,
    }


def forecast_from_proto(resp: forecast_pb2.ForecastStoreResponse) -> dict[str, Any]:
    return {
        "model": resp.model, "version": resp.version, "interval_level": resp.interval_level,
        "store": store_from_proto(resp.store),
        "rows_from_test": resp.rows_from_test, "rows_from_rules": resp.rows_from_rules,
        "history": [
            {"Date": h.date, "Sales": h.sales, "Open": int(h.open), "Promo": int(h.promo),
             "StateHoliday": h.state_holiday, "SchoolHoliday": int(h.school_holiday)}
            for h in resp.history
        ],
        "forecast": [
            {"Date": f.date, "Open": int(f.open), "Promo": int(f.promo),
             "StateHoliday": f.state_holiday, "SchoolHoliday": int(f.school_holiday),
             "source": f.source, "Sales": f.sales, "lower": f.lower, "upper": f.upper}
            for f in resp.forecast
        ],
    }


def _grpc_error(exc: grpc.aio.AioRpcError) -> JSONResponse:
    code = exc.code()
    return JSONResponse(status_code=http_status(code), content=error_body(code, exc.details() or ""))


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse(status_code=400,
                        content=error_body(grpc.StatusCode.INVALID_ARGUMENT, message))


@lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, str]:
    from plotly.offline import get_plotlyjs

    body = get_plotlyjs().encode()
    return body, hashlib.sha256(body).hexdigest()[:16]


class MetricsMiddleware:
    """Counts each HTTP request by route template, method, model and status, and its latency
    (a plain ASGI middleware: no per-request task or body copy)."""

    def __init__(self, app: Any, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            state = scope.get("state") or {}
            model = state.get("model", "") if status[0] < 400 else ""
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, model, str(status[0])).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def add_ops_routes(app: FastAPI, state: dict[str, Any], timeout: float) -> None:
    """Mount the explorer, docs, metrics and probes on `app` (stubs come from `state`)."""
    metrics = GatewayMetrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.mount("/static/swagger", StaticFiles(directory=str(SWAGGER_DIR)), name="swagger")
    app.mount("/static/explorer", StaticFiles(directory=str(EXPLORER_DIR)), name="explorer")

    @app.get("/forecast", response_model=ForecastOut, responses=_ERRORS,
             summary="One store's daily sales history and its forecast after the data ends")
    async def forecast(
        request: Request,
        # int32 in the proto: larger values are refused (400) here, not a 500 in conversion
        store: Annotated[int, Query(description="store id", ge=-(2**31), le=2**31 - 1)],
        days: Annotated[int, Query(description="days to forecast after the history ends",
                                   le=2**31 - 1)] = 42,
        model: Annotated[str, Query(description='"tree" or "lstm"; empty = default')] = "",
        version: Annotated[str, Query(description="catalog version; empty = latest")] = "",
        history_days: Annotated[int, Query(description="days of history; 0 = none",
                                           le=2**31 - 1)] = 182,
    ) -> Any:
        request.state.model = model or "default"
        if days < 1:
            return _bad_request(f"days: {days} is not positive (days to forecast, from 1)")
        if history_days < 0:
            return _bad_request(f"history_days: {history_days} is negative (0 = no history)")
        req = forecast_pb2.ForecastStoreRequest(store=store, days=days, model=model,
                                                version=version, history_days=history_days)
        try:
            resp = await state["stub"].ForecastStore(req, timeout=timeout,
                                                     metadata=state.get("metadata", ()))
        except grpc.aio.AioRpcError as exc:
            return _grpc_error(exc)
        request.state.model = resp.model
        return forecast_from_proto(resp)

    @app.get("/stores", response_model=StoresOut, responses=_ERRORS,
             summary="Stores the explorer and /forecast know, with their store.csv attributes")
    async def stores() -> Any:
        try:
            resp = await state["stub"].ListStores(forecast_pb2.ListStoresRequest(),
                                                  timeout=timeout,
                                                  metadata=state.get("metadata", ()))
        except grpc.aio.AioRpcError as exc:
            return _grpc_error(exc)
        return {"stores": [store_from_proto(s) for s in resp.stores]}

    @app.get("/", include_in_schema=False)
    @app.get("/explorer", include_in_schema=False)
    async def explorer() -> FileResponse:
        return FileResponse(str(EXPLORER_DIR / "index.html"), media_type="text/html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js(request: Request) -> Response:
        body, etag = _plotly_js()
        headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/javascript", headers=headers)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - Swagger UI",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - ReDoc",
            redoc_js_url="/static/swagger/redoc.standalone.js",
            redoc_favicon_url="/static/swagger/favicon.png", with_google_fonts=False)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(exposition(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/livez", summary="200 while the gateway process runs (liveness)")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", summary="200 when the gRPC server is reachable and serves a model")
    async def readyz() -> JSONResponse:
        try:
            resp = await state["stub"].GetModelInfo(forecast_pb2.GetModelInfoRequest(),
                                                    timeout=min(timeout, 2.0),
                                                    metadata=state.get("metadata", ()))
        except grpc.aio.AioRpcError as exc:
            return JSONResponse(status_code=503, content={
                "status": "not ready", "grpc": exc.code().name, "message": exc.details(),
                "models": {}})
        models = {m.name: forecast_pb2.ModelInfo.Status.Name(m.status) for m in resp.models}
        ready = any(s == "SERVING" for s in models.values())
        return JSONResponse(status_code=200 if ready else 503, content={
            "status": "ready" if ready else "not ready", "grpc": "OK", "models": models})
