"""The committed generated code in src/rossmann/v1 is exactly what `make protos` produces from
protos/rossmann/v1/forecast.proto (so nobody edits one without the other)."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("forecast_pb2.py", "forecast_pb2.pyi", "forecast_pb2_grpc.py")


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    # the exact command of `make protos`, into a tmp dir
    rc = protoc.main([
        "grpc_tools.protoc", f"-I{REPO_ROOT / 'protos'}", f"--python_out={tmp_path}",
        f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
        str(REPO_ROOT / "protos" / "rossmann" / "v1" / "forecast.proto"),
    ])
    assert rc == 0
    for name in GENERATED:
        fresh = (tmp_path / "rossmann" / "v1" / name).read_text()
        committed = (REPO_ROOT / "src" / "rossmann" / "v1" / name).read_text()
        assert fresh == committed, f"src/rossmann/v1/{name} is stale: run `make protos`"


def test_contract_names() -> None:
    from rossmann.v1 import forecast_pb2

    service = forecast_pb2.DESCRIPTOR.services_by_name["ForecastService"]
    assert service.full_name == "rossmann.v1.ForecastService"
    assert set(service.methods_by_name) == {"Predict", "GetModelInfo", "ForecastStore",
                                            "ListStores"}
    row = forecast_pb2.StoreDay.DESCRIPTOR.fields_by_name
    assert set(row) == {"store", "date", "day_of_week", "open", "promo", "state_holiday",
                        "school_holiday", "id"}
    assert forecast_pb2.ModelInfo.Status.keys() == [
        "STATUS_UNSPECIFIED", "LOADING", "SERVING", "FAILED"]
