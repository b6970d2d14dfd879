"""ForecastService: a thin gRPC layer over plain functions (`predict`, `model_info`) that are tested
without a network. Every failure becomes a gRPC status; nothing a client sends can take the
process down or leave state behind."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from grpc_server.coalesce import Coalescer
from grpc_server.convert import check_batch_size, predictions_to_response, rows_to_frame
from grpc_server.errors import InvalidArgument, ServingError
from grpc_server.registry import ModelRegistry
from rossmann.v1 import forecast_pb2, forecast_pb2_grpc
from rossmann_kedro.forecaster import RowError

logger = logging.getLogger(__name__)

_STATUS = {
    "LOADING": forecast_pb2.ModelInfo.LOADING,
    "SERVING": forecast_pb2.ModelInfo.SERVING,
    "FAILED": forecast_pb2.ModelInfo.FAILED,
}


def predict(
    registry: ModelRegistry, request: forecast_pb2.PredictRequest, max_batch_rows: int,
    coalescer: Coalescer | None = None,
) -> forecast_pb2.PredictResponse:
    """Answer one Predict request; raises ServingError subclasses for refusals. With a
    `coalescer`, small requests arriving together share one `Forecaster.predict` call."""
    check_batch_size(len(request.rows), max_batch_rows)
    loaded = registry.get(request.model, request.version)  # grabbed once: hot reload-safe
    converted = rows_to_frame(request.rows, loaded.known_stores, max_batch_rows)
    try:
        if coalescer is None:
            predicted = loaded.forecaster.predict(converted.frame)
        else:
            predicted = coalescer.predict(loaded.forecaster, converted,
                                          f"model {loaded.name} {loaded.version}")
    except ValueError as exc:
        # The model's own input checks (a date outside the LSTM's horizon or the tree's calendar,
        # a bad 0/1 value, ...) are request problems: INVALID_ARGUMENT, and the server serves on.
        logger.warning("model %s %s refused %d rows: %s", loaded.name, loaded.version,
                       len(converted.dates), exc)
        raise InvalidArgument(model_refusal(loaded.name, loaded.version, exc)) from exc
    return predictions_to_response(loaded.name, loaded.version, converted, predicted)


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
    return forecast_pb2.ModelInfo(**fields)


def model_info(
    registry: ModelRegistry, request: forecast_pb2.GetModelInfoRequest
) -> forecast_pb2.GetModelInfoResponse:
    return forecast_pb2.GetModelInfoResponse(
        models=[info_to_proto(i) for i in registry.info(request.model)]
    )


class InFlight:
    """Counts the calls being answered, so that a drain can wait for exactly those; once
    `close()`d, new calls are refused (UNAVAILABLE) while the counted ones finish."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0
        self.closed = False

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
    """Maps the plain functions above onto gRPC, and their exceptions onto status codes."""

    def __init__(self, registry: ModelRegistry, max_batch_rows: int,
                 coalesce_max_rows: int = 0) -> None:
        self._registry = registry
        self._max_batch_rows = max_batch_rows
        self.coalescer = Coalescer(coalesce_max_rows) if coalesce_max_rows > 0 else None
        self.in_flight = InFlight()

    def Predict(  # gRPC method name
        self, request: forecast_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.PredictResponse:
        with self.in_flight.call(context, "Predict"):
            return self._predict(request, context)
        raise AssertionError("unreachable")  # pragma: no cover - call() aborts or yields

    def _predict(
        self, request: forecast_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.PredictResponse:
        try:
            return predict(self._registry, request, self._max_batch_rows, self.coalescer)
        except ServingError as exc:
            if exc.code == grpc.StatusCode.INTERNAL:
                logger.error("Predict failed on %d rows: %s", len(request.rows), exc.message)
            context.abort(exc.code, exc.message)
        except Exception as exc:  # a model bug must not kill the server
            # the client gets the exception type only: messages and tracebacks of arbitrary
            # code can carry server paths; the details are in the server log
            logger.exception("Predict failed on %d rows (model %r, version %r)",
                             len(request.rows), request.model, request.version)
            context.abort(grpc.StatusCode.INTERNAL,
                          f"prediction failed: {type(exc).__name__} (details in the server log)")
        raise AssertionError("unreachable")  # pragma: no cover - abort() raises

    def GetModelInfo(  # gRPC method name
        self, request: forecast_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.GetModelInfoResponse:
        with self.in_flight.call(context, "GetModelInfo"):
            return self._model_info(request, context)
        raise AssertionError("unreachable")  # pragma: no cover

    def _model_info(
        self, request: forecast_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> forecast_pb2.GetModelInfoResponse:
        try:
            return model_info(self._registry, request)
        except ServingError as exc:
            context.abort(exc.code, exc.message)
        except Exception as exc:
            logger.exception("GetModelInfo failed")
            context.abort(grpc.StatusCode.INTERNAL,
                          f"model info failed: {type(exc).__name__} (details in the server log)")
        raise AssertionError("unreachable")  # pragma: no cover
