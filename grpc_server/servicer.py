"""ForecastService: a thin gRPC layer over plain functions (`predict`, `model_info`) that are tested
without a network. Every failure becomes a gRPC status; nothing a client sends can take the
process down or leave state behind."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from grpc_server.coalesce import Coalescer
from grpc_server.convert import (
    ConvertedRows,
    check_batch_size,
    forecast_values,
    predictions_to_response,
    rows_to_frame,
)
from grpc_server.errors import FailedPrecondition, InvalidArgument, ServingError
from grpc_server.registry import LoadedModel, ModelRegistry
from grpc_server.store_data import StoreData
from grpc_server.store_forecast import forecast_store, list_stores
from rossmann.v1 import forecast_pb2, forecast_pb2_grpc
from rossmann_kedro.forecaster import RowError

logger = logging.getLogger(__name__)

_STATUS = {
    "LOADING": forecast_pb2.ModelInfo.LOADING,
    "SERVING": forecast_pb2.ModelInfo.SERVING,
    "FAILED": forecast_pb2.ModelInfo.FAILED,
}


# Called with every answered request's model, rows and (n, 3) Sales/lower/upper values.
PredictionObserver = Callable[[str, LoadedModel, ConvertedRows, Any], None]


def predict(
    registry: ModelRegistry, request: forecast_pb2.PredictRequest, max_batch_rows: int,
    coalescer: Coalescer | None = None, on_predicted: PredictionObserver | None = None,
) -> forecast_pb2.PredictResponse:
    """Answer one Predict request; raises ServingError subclasses for refusals. With a
    `coalescer`, small requests arriving together share one `Forecaster.predict` call;
    `on_predicted` sees every answered request (metrics, prediction log)."""
    check_batch_size(len(request.rows), max_batch_rows)
    loaded = registry.get(request.model, request.version)  # grabbed once: hot reload-safe
    converted = rows_to_frame(request.rows, loaded.known_stores, max_batch_rows)
    label = f"model {loaded.name} {loaded.version}"
    try:
        if coalescer is None:
            predicted = forecast_values(loaded.forecaster, [converted.columns],
                                        len(converted.dates), label)
        else:
            predicted = coalescer.predict(loaded.forecaster, converted, label)
    except ValueError as exc:
        # The model's own input checks (a date outside the LSTM's horizon or the tree's calendar,
        # a bad 0/1 value, ...) are request problems: INVALID_ARGUMENT, and the server serves on.
        logger.warning("model %s %s refused %d rows: %s", loaded.name, loaded.version,
                       len(converted.dates), exc)
        raise InvalidArgument(model_refusal(loaded.name, loaded.version, exc)) from exc
    response = predictions_to_response(loaded.name, loaded.version, converted, predicted)
    if on_predicted is not None:
        on_predicted("Predict", loaded, converted, predicted)  # only what is really answered
    return response

# RowError.field (Kaggle column names, the Forecaster contract) -> StoreDay field.
_PROTO_FIELD = {
    "Store": "store", "Date": "date", "DayOfWeek": "day_of_week", "Open": "open",
    "Promo": "promo", "StateHoliday": "state_holiday", "SchoolHoliday": "school_holiday",
}


def model_refusal(model: str, version: str, exc: ValueError) -> str:
    """The model's refusal in the server's own `rows[i].field: ...` form: a `RowError` names the
    row (the frame the model saw is in request order) and the column; other ValueErrors concern
    the request as a whole."""
    if isinstance(exc, RowError):
        where = f"rows[{exc.row}].{_PROTO_FIELD.get(exc.field, exc.field)}"
        return f"{where}: model {model!r} ({version}) cannot forecast this row: {exc}"
    return f"rows: model {model!r} ({version}) cannot forecast them: {exc}"


def info_to_proto(info: dict[str, Any]) -> forecast_pb2.ModelInfo:
    fields = dict(info)
    fields["status"] = _STATUS[fields["status"]]
    fields["metrics"] = forecast_pb2.Metrics(**fields["metrics"])
    fields["backtest"] = backtest_to_proto(fields.get("backtest") or {})
    return forecast_pb2.ModelInfo(**fields)


def backtest_to_proto(summary: dict[str, Any]) -> forecast_pb2.Backtest | None:
    """The forecaster's `metadata["backtest"]` (see the backtest pipeline) as a message."""
    if not summary:
        return None
    return forecast_pb2.Backtest(
        fold_origins=summary["folds"], horizon_days=int(summary["horizon_days"]),
        chosen=summary["chosen"], mean_rmspe=summary["mean_rmspe"],
        std_rmspe=summary["std_rmspe"], fold_rmspe=summary["fold_rmspe"],
        bias_factor=summary["bias_factor"],
        event_weights=summary.get("event_weights") or {},  # none in summaries made before them
        intervals=[forecast_pb2.IntervalCoverage(
            level=float(level) / 100, coverage=c["coverage"],
            mean_relative_width=c["mean_relative_width"],
            coverage_by_week=c["coverage_by_week"]) for level, c in summary["intervals"].items()],
    )


def model_info(
    registry: ModelRegistry, request: forecast_pb2.GetModelInfoRequest
) -> forecast_pb2.GetModelInfoResponse:
    return forecast_pb2.GetModelInfoResponse(
        models=[info_to_proto(i) for i in registry.info(request.model)]
    )


_arrival = threading.local()  # .at: when the call being started in this thread reached the server


class ArrivalTimeInterceptor(grpc.ServerInterceptor):
    """Stamps each unary call with the time it reached the server, for `InFlight`'s server-side
    deadline. gRPC runs interceptors in its polling thread when the call arrives, before the call
    waits for a worker thread; the handler then runs with the stamp in its thread."""

    def intercept_service(self, continuation: Callable, handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streams are bounded by max_connection_age_seconds instead
        arrived, behavior = time.monotonic(), handler.unary_unary

        def stamped(request: Any, context: grpc.ServicerContext) -> Any:
            _arrival.at = arrived
            try:
                return behavior(request, context)
            finally:
                _arrival.at = None

        return handler._replace(unary_unary=stamped)


class InFlight:
    """Counts the calls being answered, so that a drain can wait for exactly those; once
    `close()`d, new calls are refused (UNAVAILABLE) while the counted ones finish.

    `call_deadline_seconds` is the server's own deadline for every call: one that waited longer
    for a worker thread (see `ArrivalTimeInterceptor`) is not started but answered
    DEADLINE_EXCEEDED, like a call whose client deadline passed while it waited. A started call
    is not cut short: its work is bounded by `max_batch_rows`."""

    def __init__(self, call_deadline_seconds: float | None = None) -> None:
        self._cond = threading.Condition()
        self._count = 0
        self.closed = False
        self.call_deadline_seconds = call_deadline_seconds

    @contextmanager
    def call(self, context: grpc.ServicerContext, method: str) -> Iterator[None]:
        with self._cond:
            if self.closed:
                refuse = True
            else:
                refuse = False
                self._count += 1
        if refuse:
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          f"{method}: the server is shutting down; retry (another instance)")
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # waited in the queue past the caller's deadline: nobody will read the answer
            self._done()
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                          f"{method}: deadline passed before the call could start")
        arrived = getattr(_arrival, "at", None)
        if self.call_deadline_seconds is not None and arrived is not None:
            waited = time.monotonic() - arrived
            if waited > self.call_deadline_seconds:
                self._done()
                logger.warning("%s waited %.1f s for a worker thread: refused (the server's "
                               "call deadline is %.1f s)", method, waited,
                               self.call_deadline_seconds)
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                              f"{method}: waited {waited:.1f} s for the server, longer than its "
                              f"call deadline ({self.call_deadline_seconds:g} s); retry later")
        try:
            yield
        finally:
            self._done()

    def _done(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def close(self) -> None:
        with self._cond:
            self.closed = True

    def wait_idle(self, timeout: float) -> bool:
        """After close(): wait until every counted call has finished; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout=timeout)


class ForecastServicer(forecast_pb2_grpc.ForecastServiceServicer):
    """Maps the plain functions above onto gRPC, and their exceptions onto status codes; counts
    every call in `metrics` and hands answered predictions to `prediction_log`."""

    def __init__(self, registry: ModelRegistry, max_batch_rows: int,
                 coalesce_max_rows: int = 0, store_data: StoreData | None = None,
                 max_forecast_days: int = 100, metrics: Any | None = None,
                 prediction_log: Any | None = None,
                 call_deadline_seconds: float | None = None) -> None:
        self._registry = registry
        self._max_batch_rows = max_batch_rows
        self.coalescer = Coalescer(coalesce_max_rows) if coalesce_max_rows > 0 else None
        self.in_flight = InFlight(call_deadline_seconds)
        self._store_data = store_data
        self._max_forecast_days = max_forecast_days
        self._metrics = metrics
        self._log = prediction_log
        self._observer = self._on_predicted if (metrics or prediction_log) else None

    def _on_predicted(self, method: str, loaded: LoadedModel, converted: ConvertedRows,
                      values: Any) -> None:
        if self._metrics is not None:
            self._metrics.rows.labels(method, loaded.name).inc(len(converted.dates))
        if self._log is not None:
            meta = loaded.forecaster.metadata or {}
            self._log.submit(method, loaded.name, loaded.version,
                             str(meta.get("train_end", ""))[:10], converted.columns,
                             converted.ids, values)

    def _model_label(self, model: str) -> str:
        name = model or self._registry.default_model
        return name if name in self._registry.model_names else "unknown"

    def _call(self, method: str, model: str, context: grpc.ServicerContext,
              answer: Callable[[], Any], what: str) -> Any:
        """Run `answer` as one counted in-flight call; abort with the status its refusal
        names; count the call and its latency by method, model and status code."""
        started = time.perf_counter()
        code = "OK"
        try:
            with self.in_flight.call(context, method):
                return answer()
        except ServingError as exc:
            code = exc.code.name
            if exc.code == grpc.StatusCode.INTERNAL:
                logger.error("%s failed: %s", method, exc.message)
            context.abort(exc.code, exc.message)
        except Exception as exc:  # a model bug must not kill the server
            code = _aborted_code(context) or "INTERNAL"
            if code != "INTERNAL":  # in_flight.call() aborted (draining, deadline passed)
                raise
            # the client gets the exception type only: messages and tracebacks of arbitrary
            # code can carry server paths; the details are in the server log
            logger.exception("%s failed (model %r)", method, model)
            context.abort(grpc.StatusCode.INTERNAL,
                          f"{what} failed: {type(exc).__name__} (details in the server log)")
        finally:
            if self._metrics is not None:
                label = self._model_label(model)
                self._metrics.requests.labels(method, label, code).inc()
                self._metrics.latency.labels(method, label).observe(
                    time.perf_counter() - started)
        raise AssertionError("unreachable")  # pragma: no cover - abort() raises

    def Predict(  # gRPC method name
        self, request: forecast_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.PredictResponse:
        return self._call("Predict", request.model, context, lambda: predict(
            self._registry, request, self._max_batch_rows, self.coalescer, self._observer),
            "prediction")

    def GetModelInfo(  # gRPC method name
        self, request: forecast_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.GetModelInfoResponse:
        return self._call("GetModelInfo", request.model, context,
                          lambda: model_info(self._registry, request), "model info")

    def ForecastStore(  # gRPC method name
        self, request: forecast_pb2.ForecastStoreRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.ForecastStoreResponse:
        def answer() -> forecast_pb2.ForecastStoreResponse:
            result = forecast_store(self._registry, self._require_store_data(), request,
                                    self._max_forecast_days)
            if self._observer is not None:
                self._observer("ForecastStore", result.loaded, result.converted, result.values)
            return result.response

        return self._call("ForecastStore", request.model, context, answer, "store forecast")

    def ListStores(  # gRPC method name
        self, request: forecast_pb2.ListStoresRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.ListStoresResponse:
        return self._call("ListStores", "", context,
                          lambda: list_stores(self._require_store_data()), "store list")

    def _require_store_data(self) -> StoreData:
        if self._store_data is None:
            raise FailedPrecondition("store data: this server was started without a catalog")
        return self._store_data


def _aborted_code(context: grpc.ServicerContext) -> str | None:
    """The status an earlier context.abort() set, if any (abort raises an Exception)."""
    try:
        code = context.code()
    except Exception:  # older grpcio: no code() on the servicer context
        return None
    return code.name if code is not None else None
