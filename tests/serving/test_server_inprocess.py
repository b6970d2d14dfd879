"""The gRPC server in this process (fast, measurable): health follows model loading, model bugs
become INTERNAL and the model's own input checks INVALID_ARGUMENT, and neither harms the next
call; stop() drains."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from grpc_server.registry import ModelRegistry
from grpc_server.server import ServingConfig, start_server
from grpc_server.servicer import model_refusal
from rossmann.v1 import forecast_pb2 as pb
from rossmann.v1 import forecast_pb2_grpc as pbg
from rossmann_kedro.config import load_parameters
from rossmann_kedro.forecaster import RowError
from rossmann_kedro.workspace import PROJECT_ROOT
from tests.serving.conftest import FAKE_DATASET, save_version, version_ts
from tests.serving.fake_forecaster import BuggyForecaster, InfOnceForecaster
from tests.serving.processes import free_port


def _config(**overrides) -> ServingConfig:
    """The project's `serving:` settings (conf/base/parameters_serving.yml) with overrides."""
    return ServingConfig.from_params(load_parameters(PROJECT_ROOT), **overrides)

def _request(store: int) -> pb.PredictRequest:
    return pb.PredictRequest(rows=[pb.StoreDay(store=store, date="2015-08-01",
                                               state_holiday="0")])


def test_health_errors_and_drain(fake_catalog) -> None:
    catalog, _ = fake_catalog
    registry = ModelRegistry(catalog, models={"tree": FAKE_DATASET}, poll_interval=0.05)
    running = start_server(registry, _config(grace_seconds=2), port=free_port(), threads=4)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            stub = pbg.ForecastServiceStub(channel)
            check = health_pb2.HealthCheckRequest(service="rossmann.v1.ForecastService")
            assert health.Check(check).status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(_request(1))
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            info = stub.GetModelInfo(pb.GetModelInfoRequest()).models[0]
            assert info.status == pb.ModelInfo.LOADING

            save_version(catalog, FAKE_DATASET, BuggyForecaster(), version_ts(0))
            deadline = time.monotonic() + 60
            while health.Check(check).status != health_pb2.HealthCheckResponse.SERVING:
                assert time.monotonic() < deadline
                time.sleep(0.05)

            for store, code, text in [
                (5, grpc.StatusCode.INTERNAL, "prediction failed: RuntimeError (details in the server log)"),
                (6, grpc.StatusCode.INVALID_ARGUMENT,
                 "rows[0].date: model 'tree' (2025-01-01T00.00.00.000Z) cannot forecast this "
                 "row: row 0: Date 2031-01-01 outside"),
            ]:
                with pytest.raises(grpc.RpcError) as err:
                    stub.Predict(_request(store))
                assert err.value.code() == code and text in err.value.details()
                assert stub.Predict(_request(1)).predictions[0].sales == 106.0
            with pytest.raises(grpc.RpcError) as err:
                stub.GetModelInfo(pb.GetModelInfoRequest(model="nope"))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        running.stop()
    assert registry._thread is None  # the poller stopped with the server


def test_a_non_finite_prediction_is_never_served(fake_catalog) -> None:
    """A model that validated fine but predicts inf for one store: that request is INTERNAL
    (alone or coalesced with others), never OK with inf; other requests are answered."""
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, InfOnceForecaster(), version_ts(0))
    registry = ModelRegistry(catalog, models={"tree": FAKE_DATASET}, poll_interval=0.05)
    registry.refresh()
    running = start_server(registry, _config(grace_seconds=2), port=free_port(), threads=4)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pbg.ForecastServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(_request(3), timeout=30)
            assert err.value.code() == grpc.StatusCode.INTERNAL
            assert "non-finite" in err.value.details()
            assert stub.Predict(_request(1), timeout=30).predictions[0].sales == 106.0
            results: list = []

            def call(store: int) -> None:
                try:
                    results.append(stub.Predict(_request(store), timeout=30).predictions[0].sales)
                except grpc.RpcError as exc:
                    results.append(exc.code())

            threads = [threading.Thread(target=call, args=(s,)) for s in (1, 3, 2, 3) * 5]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        running.stop()
    assert sorted(r for r in results if isinstance(r, float)) == [106.0] * 5 + [206.0] * 5
    assert [r for r in results if not isinstance(r, float)] == [grpc.StatusCode.INTERNAL] * 10


@pytest.mark.parametrize(("error", "expected"), [
    (RowError(3, "Date", "Date 2016-01-01 is more than 100 days after"), "rows[3].date: model "
     "'lstm' (v1) cannot forecast this row: row 3: Date 2016-01-01 is more than 100 days after"),
    (RowError(0, "Promo", "column 'Promo' = 2 not in (0, 1)"), "rows[0].promo: model 'lstm' (v1)"),
    (RowError(12, "StateHoliday", "StateHoliday 'x' not in"), "rows[12].state_holiday: "),
    (RowError(1, "Store", "Store 99 is unknown to the LSTM model"), "rows[1].store: "),
    (ValueError("rows lack columns ['Promo']"),
     "rows: model 'lstm' (v1) cannot forecast them: rows lack"),
    (ValueError("row 2: Date looks like a row error"),  # text is never parsed
     "rows: model 'lstm' (v1) cannot forecast them: row 2: Date"),
])
def test_model_refusals_name_the_request_row_and_field(error: ValueError, expected: str) -> None:
    assert model_refusal("lstm", "v1", error).startswith(expected)
