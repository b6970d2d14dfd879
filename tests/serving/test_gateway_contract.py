"""The REST contract, held to its own OpenAPI schema: a bounded schemathesis fuzz against real
gateway and server processes (anything the schema allows gets no 5xx and a documented answer;
anything it forbids is refused), the hostile inputs that used to get through (strings and
booleans for numbers, Ids beyond int64, huge bodies), and property tests of request
conversion (hypothesis)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from grpc_server.convert import MAX_DATE, MIN_DATE, SMALL_BATCH, rows_to_frame
from grpc_server.errors import InvalidArgument
from grpc_server.gateway import Instance, PredictBody, to_proto
from grpc_server.registry import load_project_catalog
from rossmann.v1 import forecast_pb2 as pb
from tests.serving import processes as procs
from tests.serving.conftest import FAKE_DATASET, local_serving, save_version, version_ts
from tests.serving.fake_forecaster import FakeForecaster

KNOWN = np.arange(1, 13, dtype=np.int64)
GOOD = {"Store": 1, "Date": "2015-08-01", "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0}


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory) -> str:
    """A gRPC server (fake 12-store model) and a gateway with a 1 MB body limit."""
    from rossmann_kedro.workspace import make_workspace
    from tests.serving.conftest import FAKE_CATALOG

    root = tmp_path_factory.mktemp("contract")
    ws = make_workspace(root / "ws")
    (ws / "conf" / "base" / "catalog_serving_test.yml").write_text(FAKE_CATALOG)
    local_serving(ws, models={"tree": FAKE_DATASET}, max_batch_rows=1000)
    catalog, _ = load_project_catalog(ws)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    server, gport = procs.start_server(ws, root / "server.log")
    gateway = None
    try:
        procs.wait_serving(server, gport, root / "server.log")
        gateway, hport = procs.start_gateway(gport, root / "gateway.log", "--max-body-mb", "1")
        procs.wait_http(gateway, hport, root / "gateway.log")
        yield f"http://127.0.0.1:{hport}"
    finally:
        if gateway is not None:
            procs.stop(gateway)
        procs.stop(server)


FUZZ_EXAMPLES = 60  # per operation and mode: bounded, ~10 s for the whole fuzz


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_rest_contract_fuzzed_from_the_openapi_schema(gateway_url: str, mode) -> None:
    """Every operation of the served OpenAPI schema, fuzzed deterministically: no 5xx, every
    status code and body as documented; in negative mode (requests the schema forbids) every
    request is refused."""
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, negative_data_rejection]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/model", "/healthz"}
    for operation in operations:

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case) -> None:
            case.call_and_validate(base_url=gateway_url, checks=checks, timeout=30)

        raw = operation.definition.raw
        if mode == GenerationMode.NEGATIVE and not raw.get("parameters") and (
                "requestBody" not in raw):
            continue  # nothing to send wrongly (e.g. GET /healthz)
        fuzz()


@pytest.mark.slow
@pytest.mark.parametrize(("change", "where"), [
    ({"Store": "1"}, "instances[0].Store"),
    ({"Store": True}, "instances[0].Store"),
    ({"Store": 1.0}, "instances[0].Store"),
    ({"Id": False}, "instances[0].Id"),
    ({"Id": "7"}, "instances[0].Id"),
    ({"Id": 2**63}, "instances[0].Id"),  # beyond int64: used to be a bare 500
    ({"Id": -(2**63) - 1}, "instances[0].Id"),
    ({"DayOfWeek": "6"}, "instances[0].DayOfWeek"),
    ({"Promo": "1"}, "instances[0].Promo"),
    ({"Promo": 2}, "instances[0].Promo"),
    ({"StateHoliday": "x"}, "instances[0].StateHoliday"),
    ({"StateHoliday": False}, "instances[0].StateHoliday"),
    ({"Date": "2015-8-1"}, "instances[0].Date"),
    ({"Date": 20150801}, "instances[0].Date"),
    ({"Date": "\ud800015-08-01"}, "instances[0].Date"),
])
def test_wrong_types_and_ranges_are_400_naming_the_field(gateway_url, change, where) -> None:
    resp = httpx.post(f"{gateway_url}/predict", timeout=30,
                      content=json.dumps({"instances": [{**GOOD, **change}]}),
                      headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == 3 and where in resp.json()["message"], resp.json()


@pytest.mark.slow
def test_accepted_on_purpose_and_limits(gateway_url) -> None:
    with httpx.Client(base_url=gateway_url, timeout=60) as http:
        # booleans for the 0/1 flags, 0 for "no holiday", the int64 extremes as Ids
        for instance in ({**GOOD, "Promo": True, "SchoolHoliday": False, "Open": True},
                         {**GOOD, "StateHoliday": 0, "Id": 2**63 - 1},
                         {**GOOD, "Id": -(2**63)}):
            resp = http.post("/predict", json={"instances": [instance]})
            assert resp.status_code == 200, resp.text
        assert http.post("/predict", json={"instances": [{**GOOD, "Id": 2**63 - 1}]}).json()[
            "predictions"][0]["Id"] == 2**63 - 1
        # an empty list: the schema says minItems 1, and the gateway refuses it itself
        schema = http.get("/openapi.json").json()["components"]["schemas"]["PredictBody"]
        assert schema["properties"]["instances"]["minItems"] == 1
        resp = http.post("/predict", json={"instances": []})
        assert resp.status_code == 400 and "instances" in resp.json()["message"]
        # bodies over --max-body-mb (1 MB here): 413, declared or streamed
        big = json.dumps({"instances": [GOOD] * 20_000}).encode()
        assert len(big) > 1024 * 1024
        resp = http.post("/predict", content=big, headers={"content-type": "application/json"})
        assert resp.status_code == 413 and resp.json()["code"] == 8, resp.text
        assert "limit of 1048576 bytes" in resp.json()["message"]

        def chunks():
            for i in range(0, len(big), 64 * 1024):
                yield big[i:i + 64 * 1024]

        resp = http.post("/predict", content=chunks(), headers={"content-type":
                                                                "application/json"})
        assert resp.status_code == 413, resp.text
        # and the gateway is fine afterwards
        assert http.post("/predict", json={"instances": [GOOD] * 500}).status_code == 200


# ---- property tests of request conversion -----------------------------------------------

dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
instances = st.fixed_dictionaries(
    {"Store": st.integers(1, 2**31 - 1), "Date": dates.map(date.isoformat),
     "Promo": st.sampled_from([0, 1, True, False]),
     "StateHoliday": st.sampled_from(["0", "a", "b", "c", 0]),
     "SchoolHoliday": st.sampled_from([0, 1, True, False])},
    optional={"DayOfWeek": st.none() | st.integers(0, 7), "Open": st.none() | st.sampled_from(
        [0, 1, True, False]), "Id": st.none() | st.integers(-(2**63), 2**63 - 1)})


@settings(max_examples=200, deadline=None)
@given(st.lists(instances, min_size=1, max_size=5))
def test_gateway_to_proto_keeps_every_field(items: list[dict]) -> None:
    body = PredictBody.model_validate_json(json.dumps({"instances": items}))
    request = to_proto(body)
    assert len(request.rows) == len(items)
    for item, row in zip(items, request.rows, strict=True):
        assert row.store == item["Store"] and row.date == item["Date"]
        assert row.promo == bool(item["Promo"]) and row.school_holiday == bool(
            item["SchoolHoliday"])
        assert row.state_holiday == str(item["StateHoliday"])
        assert row.day_of_week == (item.get("DayOfWeek") or 0)
        assert row.HasField("open") == (item.get("Open") is not None)
        assert row.HasField("id") == (item.get("Id") is not None)
        if item.get("Id") is not None:
            assert row.id == item["Id"]
    assert Instance.model_json_schema()["additionalProperties"] is False


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), dates), min_size=1, max_size=SMALL_BATCH + 8))
def test_dates_convert_exactly_or_are_refused_by_row(rows: list[tuple[int, date]]) -> None:
    """Any calendar date, in either parsing path (small and vectorised batches): converted to
    exactly that day and weekday when the models' calendar holds it, else refused naming the
    first such row and its date; nothing wraps around."""
    messages = [pb.StoreDay(store=s, date=d.isoformat(), state_holiday="0") for s, d in rows]
    outside = [i for i, (_, d) in enumerate(rows)
               if not MIN_DATE <= np.datetime64(d, "D") <= MAX_DATE]
    if outside:
        with pytest.raises(InvalidArgument) as err:
            rows_to_frame(messages, KNOWN, max_rows=100)
        first = outside[0]
        assert f"rows[{first}].date: '{rows[first][1].isoformat()}' is outside" in (
            err.value.message)
        return
    frame = rows_to_frame(messages, KNOWN, max_rows=100).frame
    assert [t.date() for t in frame["Date"]] == [d for _, d in rows]
    assert frame["DayOfWeek"].tolist() == [d.isoweekday() for _, d in rows]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="0123456789-/ T:x", max_size=12), min_size=1, max_size=20))
def test_any_date_text_is_converted_or_refused_never_guessed(texts: list[str]) -> None:
    messages = [pb.StoreDay(store=1, date=t, state_holiday="0") for t in texts]

    def exact(text: str) -> date | None:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            return None
        ok = len(text) == 10 and MIN_DATE <= np.datetime64(d, "D") <= MAX_DATE
        return d if ok else None

    parsed = [exact(t) for t in texts]
    if all(p is not None for p in parsed):
        frame = rows_to_frame(messages, KNOWN, max_rows=100).frame
        assert [t.date() for t in frame["Date"]] == parsed
    else:
        with pytest.raises(InvalidArgument, match=r"rows\[\d+\]\.date"):
            rows_to_frame(messages, KNOWN, max_rows=100)


def test_date_bounds_are_whole_years() -> None:
    assert str(MIN_DATE) == "1678-01-01" and str(MAX_DATE) == "2261-12-31"
    assert date.fromisoformat(str(MAX_DATE)) + timedelta(days=1) == date(2262, 1, 1)
    assert Path(__file__).name  # keeps the module importable standalone
