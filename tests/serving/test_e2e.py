"""End to end: real `python -m grpc_server serve` and `gateway` processes on 127.0.0.1 with free
ports, serving the model from a tmp workspace (see `served_model` in conftest.py), checked
over the wire: Predict, GetModelInfo, health, reflection, REST, status mapping, each bad input,
hot reload under load, corrupt versions, parity with the batch pipeline (drain and
starvation: test_server_robustness.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from grpc_server.client import ForecastClient
from grpc_server.gateway import create_app
from rossmann.v1 import forecast_pb2 as pb
from rossmann.v1 import forecast_pb2_grpc as pbg
from tests.serving import processes as procs
from tests.serving.conftest import FAKE_DATASET, save_corrupt_version, save_version, version_ts

pytestmark = pytest.mark.slow
MAX_ROWS = 5000


@pytest.fixture(scope="module")
def stack(served_model, tmp_path_factory):
    """A server and a gateway process on the served workspace, for the whole module."""
    logs = tmp_path_factory.mktemp("logs")
    server, gport = procs.start_server(
        served_model.workspace, logs / "server.log", "--poll-seconds", "0.2",
        "--max-batch-rows", str(MAX_ROWS))
    gateway = None
    try:
        procs.wait_serving(server, gport, logs / "server.log")
        gateway, hport = procs.start_gateway(gport, logs / "gateway.log")
        procs.wait_http(gateway, hport, logs / "gateway.log")
        yield {"grpc": f"127.0.0.1:{gport}", "http": f"http://127.0.0.1:{hport}",
               "server": server, "logs": logs}
    finally:
        gateway_rc = procs.stop(gateway) if gateway is not None else 0
        server_rc = procs.stop(server)
    assert gateway_rc == 0, (logs / "gateway.log").read_text()  # drained, then exited cleanly
    assert "Finished server process" in (logs / "gateway.log").read_text()
    assert server_rc == 0, (logs / "server.log").read_text()


@pytest.fixture(scope="module")
def stub(stack):
    with grpc.insecure_channel(stack["grpc"]) as channel:
        yield pbg.ForecastServiceStub(channel)


def good_row(served_model, **kw) -> pb.StoreDay:
    r = served_model.rows.iloc[0]
    fields = dict(store=int(r.Store), date=str(r.Date)[:10], promo=bool(r.Promo),
                  state_holiday=str(r.StateHoliday), school_holiday=bool(r.SchoolHoliday),
                  open=True)
    fields.update(kw)
    return pb.StoreDay(**fields)


def test_health_and_reflection(stack) -> None:
    with grpc.insecure_channel(stack["grpc"]) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "rossmann.v1.ForecastService"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=60)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"rossmann.v1.ForecastService", "grpc.health.v1.Health"} <= services


def test_predict_and_model_info(stack, served_model) -> None:
    rows = served_model.rows.head(200)
    with ForecastClient(stack["grpc"]) as client:
        preds = client.predict(rows)
        info = client.info()
    assert len(preds) == len(rows)
    assert preds["Id"].tolist() == rows["Id"].tolist()  # request order, ids echoed
    assert preds["Store"].tolist() == rows["Store"].tolist()
    closed = (rows["Open"] == 0).to_numpy()
    assert closed.any() and (preds.loc[closed, ["Sales", "lower", "upper"]] == 0).all().all()
    open_ = ~closed
    assert (preds.loc[open_, "Sales"] > 0).all()
    assert (preds["lower"] <= preds["Sales"]).all() and (preds["Sales"] <= preds["upper"]).all()
    (tree,) = [m for m in info if m["name"] == "tree"]
    assert tree["status"] == "SERVING" and tree["version"] == preds.attrs["version"]
    assert tree["version"] in tree["versions_on_disk"]
    assert tree["train_start"] and tree["train_end"] and tree["trained_at"]
    assert 0 < tree["interval_level"] < 1 and tree["feature_names"]
    assert tree["metrics"]["rmspe"] > 0 and tree["n_stores"] == len(served_model.stores)
    # the backtest the served version was chosen on travels with it
    bt = tree["backtest"]
    assert len(bt["fold_origins"]) == 4 and bt["horizon_days"] == 42
    assert bt["mean_rmspe"] == pytest.approx(tree["metrics"]["rmspe"])
    assert bt["mean_rmspe"] == pytest.approx(np.mean(bt["fold_rmspe"]))
    assert {i["level"] for i in bt["intervals"]} == {0.8, 0.95}
    assert all(len(i["coverage_by_week"]) == 6 for i in bt["intervals"])
    selection = served_model.workspace / "data/08_reporting/backtest_selection.json"
    assert bt["event_weights"] == json.loads(selection.read_text())["event_weights"]


def test_every_bad_input_is_refused_and_the_next_request_succeeds(stub, served_model) -> None:
    unknown_store = max(served_model.stores) + 1000
    cases = [
        (pb.PredictRequest(rows=[good_row(served_model, store=unknown_store)]),
         grpc.StatusCode.INVALID_ARGUMENT, f"rows[0].store: unknown store {unknown_store}"),
        (pb.PredictRequest(rows=[good_row(served_model), good_row(served_model, date="2015-8-1")]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[1].date: '2015-8-1' is not a date"),
        (pb.PredictRequest(rows=[good_row(served_model, date="2015-02-30")]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[0].date: '2015-02-30' is not a valid"),
        (pb.PredictRequest(rows=[good_row(served_model, date="")]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[0].date: missing"),
        (pb.PredictRequest(rows=[good_row(served_model, store=0)]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[0].store: missing"),
        (pb.PredictRequest(rows=[good_row(served_model, state_holiday="z")]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[0].state_holiday: 'z'"),
        (pb.PredictRequest(rows=[good_row(served_model, state_holiday="")]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[0].state_holiday: missing"),
        (pb.PredictRequest(rows=[good_row(served_model, date="2015-08-01", day_of_week=1)]),
         grpc.StatusCode.INVALID_ARGUMENT, "rows[0].day_of_week: 1 contradicts date 2015-08-01"),
        (pb.PredictRequest(rows=[]), grpc.StatusCode.INVALID_ARGUMENT, "rows: empty"),
        (pb.PredictRequest(rows=[good_row(served_model)] * (MAX_ROWS + 1)),
         grpc.StatusCode.RESOURCE_EXHAUSTED, f"limit of {MAX_ROWS} rows"),
        (pb.PredictRequest(model="prophet", rows=[good_row(served_model)]),
         grpc.StatusCode.NOT_FOUND, "unknown model 'prophet'"),
        (pb.PredictRequest(version="1999-01-01T00.00.00.000Z", rows=[good_row(served_model)]),
         grpc.StatusCode.NOT_FOUND, "no version '1999-01-01T00.00.00.000Z'"),
        (pb.PredictRequest(version="../../etc", rows=[good_row(served_model)]),
         grpc.StatusCode.NOT_FOUND, "no version"),
    ]
    good = pb.PredictRequest(rows=[good_row(served_model)])
    for request, code, message in cases:
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request, timeout=60)
        assert err.value.code() == code, (message, err.value.details())
        assert message in err.value.details()
        assert stub.Predict(good, timeout=60).predictions[0].sales > 0


def test_garbage_bytes_do_not_hurt_the_server(stack, served_model) -> None:
    with grpc.insecure_channel(stack["grpc"]) as channel:
        call = channel.unary_unary("/rossmann.v1.ForecastService/Predict",
                                   request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xfe not a protobuf \x00\x01", timeout=60)
        assert err.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
        stub = pbg.ForecastServiceStub(channel)
        assert stub.Predict(pb.PredictRequest(rows=[good_row(served_model)]), timeout=60)


def rest_instances(rows: pd.DataFrame) -> list[dict]:
    out = []
    for r in rows.itertuples(index=False):
        item = {"Store": int(r.Store), "Date": str(r.Date)[:10], "DayOfWeek": int(r.DayOfWeek),
                "Promo": int(r.Promo), "StateHoliday": str(r.StateHoliday),
                "SchoolHoliday": int(r.SchoolHoliday), "Id": int(r.Id)}
        if r.Open == r.Open:  # NaN = missing = open
            item["Open"] = int(r.Open)
        out.append(item)
    return out


def test_rest_endpoints(stack, served_model) -> None:
    rows = served_model.rows.head(50)
    with httpx.Client(base_url=stack["http"], timeout=30) as http:
        resp = http.post("/predict", json={"model": "tree", "instances": rest_instances(rows)})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        with ForecastClient(stack["grpc"]) as client:
            direct = client.predict(rows)
        assert body["model"] == "tree" and body["version"] == direct.attrs["version"]
        got = pd.DataFrame(body["predictions"])
        assert list(got.columns) == ["Id", "Store", "Date", "Sales", "lower", "upper"]
        assert got["Id"].tolist() == rows["Id"].tolist()
        np.testing.assert_array_equal(got["Sales"], direct["Sales"])  # same numbers as gRPC

        minimal = {k: v for k, v in rest_instances(rows.head(1))[0].items()
                   if k not in ("DayOfWeek", "Open", "Id")}
        resp = http.post("/predict", json={"instances": [minimal]})  # model defaults to tree
        assert resp.status_code == 200 and resp.json()["predictions"][0]["Id"] is None
        nulls = {**minimal, "DayOfWeek": None, "Open": None, "Id": None}
        assert http.post("/predict", json={"instances": [nulls]}).json() == resp.json()

        info = http.get("/model")
        assert info.status_code == 200
        (tree,) = [m for m in info.json()["models"] if m["name"] == "tree"]
        assert tree["status"] == "SERVING" and tree["version"] == body["version"]
        with ForecastClient(stack["grpc"]) as client:
            (grpc_tree,) = [m for m in client.info() if m["name"] == "tree"]
        assert tree["backtest"]["fold_rmspe"] == grpc_tree["backtest"]["fold_rmspe"]
        assert tree["backtest"]["chosen"] == grpc_tree["backtest"]["chosen"]
        assert http.get("/model", params={"model": "tree"}).json()["models"][0]["name"] == "tree"
        assert http.get("/healthz").json() == {"status": "SERVING"}
        assert http.get("/docs").status_code == 200
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/predict", "/model", "/healthz"} <= set(paths)


def test_rest_status_mapping(stack, served_model) -> None:
    good = rest_instances(served_model.rows.head(1))[0]
    cases = [
        ({"instances": [{**good, "Date": "2015-02-30"}]}, 400, 3, "rows[0].date"),
        ({"instances": [{**good, "Store": max(served_model.stores) + 1000}]}, 400, 3,
         "rows[0].store: unknown store"),
        ({"instances": [{k: v for k, v in good.items() if k != "Promo"}]}, 400, 3,
         "instances[0].Promo: Field required"),
        ({"instances": [{**good, "Store": "abc"}]}, 400, 3, "instances[0].Store"),
        ({"instances": [{**good, "Promo": 2}]}, 400, 3, "instances[0].Promo"),
        ({"instances": [good, {**good, "Open": "maybe"}]}, 400, 3, "instances[1].Open"),
        ({"instances": []}, 400, 3, "instances: List should have at least 1 item"),
        ({"model": "nope", "instances": [good]}, 404, 5, "unknown model 'nope'"),
        ({"version": "2000-01-01T00.00.00.000Z", "instances": [good]}, 404, 5, "no version"),
        ({"instances": [good] * (MAX_ROWS + 1)}, 429, 8, f"limit of {MAX_ROWS}"),
    ]
    with httpx.Client(base_url=stack["http"], timeout=30) as http:
        for body, status, code, message in cases:
            resp = http.post("/predict", json=body)
            assert resp.status_code == status, (body, resp.text)
            err = resp.json()
            assert err["code"] == code and message in err["message"], err
        assert http.post("/predict", content=b"{not json",
                         headers={"content-type": "application/json"}).status_code == 400
        assert http.get("/model", params={"model": "nope"}).status_code == 404
        assert http.post("/predict", json={"instances": [good]}).status_code == 200

    # UNAVAILABLE -> 503 and DEADLINE_EXCEEDED -> 504, with the gateway app in-process
    with TestClient(create_app(f"127.0.0.1:{procs.free_port()}", timeout=2)) as dead:
        resp = dead.post("/predict", json={"instances": [good]})
        assert resp.status_code == 503 and resp.json()["code"] == 14
        assert "unreachable" in resp.json()["message"] and "127.0.0.1" not in resp.text
        assert dead.get("/healthz").status_code == 503
    # a ForecastService that answers only once the test lets it: no answer can beat the
    # gateway's deadline, however fast or slow the machine (a 1 µs deadline against the real
    # server once lost that race on a loaded machine)
    release = threading.Event()

    class Stalled(pbg.ForecastServiceServicer):
        def Predict(self, request, context):
            release.wait(30)
            return pb.PredictResponse()

    stalled = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pbg.add_ForecastServiceServicer_to_server(Stalled(), stalled)
    port = stalled.add_insecure_port("127.0.0.1:0")
    stalled.start()
    try:
        with TestClient(create_app(f"127.0.0.1:{port}", timeout=0.5)) as hurried:
            resp = hurried.post("/predict", json={"instances": [good]})
            assert resp.status_code == 504 and resp.json()["code"] == 4
            assert "deadline" in resp.json()["message"]
    finally:
        release.set()
        stalled.stop(grace=None)


def test_client_cli(stack, served_model, tmp_path: Path) -> None:
    csv = tmp_path / "test.csv"
    served_model.rows.head(300).to_csv(csv, index=False)
    out = tmp_path / "preds.csv"
    run = subprocess.run(
        [sys.executable, "-m", "grpc_server", "client", "predict", "--csv", str(csv),
         "--target", stack["grpc"], "--out", str(out)],
        capture_output=True, text=True, timeout=60, cwd=procs.REPO_ROOT,
    )
    assert run.returncode == 0, run.stderr
    preds = pd.read_csv(out)
    assert len(preds) == 300 and preds["Id"].tolist() == served_model.rows["Id"].head(300).tolist()
    info = subprocess.run(
        [sys.executable, "-m", "grpc_server", "client", "info", "--target", stack["grpc"]],
        capture_output=True, text=True, timeout=60, cwd=procs.REPO_ROOT,
    )
    assert info.returncode == 0
    assert {m["name"]: m["status"] for m in json.loads(info.stdout)}["tree"] == "SERVING"
    bad = subprocess.run(
        [sys.executable, "-m", "grpc_server", "client", "predict", "--csv", str(csv),
         "--target", stack["grpc"], "--model", "nope"],
        capture_output=True, text=True, timeout=60, cwd=procs.REPO_ROOT,
    )
    assert bad.returncode == 1 and "NOT_FOUND" in bad.stderr


def test_parity_with_batch_pipeline(stack, served_model) -> None:
    if served_model.batch_predictions is None:
        pytest.skip("no batch predictions (fake model)")
    rows, batch = served_model.rows, served_model.batch_predictions
    with ForecastClient(stack["grpc"]) as client:
        served = client.predict(rows)
    merged = served.merge(batch, on="Id", suffixes=("", "_batch"), validate="1:1")
    assert len(merged) == len(rows)
    for col in ("Sales", "lower", "upper"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_batch"], rtol=1e-6, atol=1e-9)


def lstm_rows(served_model) -> pd.DataFrame:
    if served_model.lstm_batch_predictions is None:
        pytest.skip("no LSTM in this workspace")
    return served_model.rows.loc[served_model.rows["Id"].isin(
        served_model.lstm_batch_predictions["Id"])].reset_index(drop=True)


def test_lstm_predict_model_info_and_rest(stack, served_model) -> None:
    rows = lstm_rows(served_model).head(100)
    with ForecastClient(stack["grpc"]) as client:
        preds = client.predict(rows, model="lstm")
        info = {m["name"]: m for m in client.info()}
    assert preds.attrs["model"] == "lstm" and preds["Id"].tolist() == rows["Id"].tolist()
    closed = (rows["Open"] == 0).to_numpy()
    assert closed.any() and (preds.loc[closed, ["Sales", "lower", "upper"]] == 0).all().all()
    assert (preds.loc[~closed, "Sales"] > 0).all()
    assert (preds["lower"] <= preds["Sales"]).all() and (preds["Sales"] <= preds["upper"]).all()

    assert set(info) == {"tree", "lstm"}
    for m in info.values():
        assert m["status"] == "SERVING" and m["version"] in m["versions_on_disk"], m
        assert m["trained_at"] and m["train_start"] and m["train_end"], m
        assert all(m["metrics"][k] > 0 for k in ("rmspe", "rmse", "mae")), m
        assert 0 < m["interval_level"] < 1 and m["feature_names"] and m["n_stores"] > 0
    lstm = info["lstm"]
    assert lstm["dataset"] == "lstm_forecaster" and lstm["version"] == preds.attrs["version"]
    assert lstm["train_end"] == (pd.Timestamp(served_model.lstm_valid_dates[0])
                                 - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    assert any(f.startswith("window:") for f in lstm["feature_names"])

    with httpx.Client(base_url=stack["http"], timeout=30) as http:
        resp = http.post("/predict", json={"model": "lstm", "instances": rest_instances(rows)})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["model"] == "lstm" and body["version"] == lstm["version"]
        got = pd.DataFrame(body["predictions"])
        for col in ("Sales", "lower", "upper"):  # same numbers as gRPC (JSON floats round-trip)
            np.testing.assert_array_equal(got[col], preds[col])
        models = {m["name"]: m for m in http.get("/model").json()["models"]}
        assert models["lstm"]["status"] == "SERVING"
        assert models["lstm"]["version"] == lstm["version"]
        assert http.get("/model", params={"model": "lstm"}).json()["models"][0]["name"] == "lstm"


def test_lstm_parity_with_batch_pipeline(stack, served_model) -> None:
    """Served LSTM predictions for the test rows == lstm_test_predictions (batch pipeline)."""
    rows = lstm_rows(served_model)
    batch = served_model.lstm_batch_predictions
    assert len(rows) == len(batch)
    with ForecastClient(stack["grpc"]) as client:
        served = client.predict(rows, model="lstm")
        single = pd.concat([client.predict(rows.iloc[[i]], model="lstm")  # one row per call
                            for i in range(0, len(rows), max(1, len(rows) // 25))])
    for got in (served, single):
        merged = got.merge(batch, on="Id", suffixes=("", "_batch"), validate="1:1")
        assert len(merged) == len(got)
        for col in ("Sales", "lower", "upper"):
            np.testing.assert_allclose(merged[col], merged[f"{col}_batch"], rtol=1e-6, atol=1e-9)


def test_model_refusals_are_invalid_argument_for_both_models(stack, stub, served_model) -> None:
    """What only the model can check (the LSTM's horizon, the tree's calendar) comes back as
    INVALID_ARGUMENT / 400 naming the row and field; the server keeps serving."""
    lstm_rows(served_model)  # skips without an LSTM
    first, last = served_model.lstm_valid_dates
    beyond = str((pd.Timestamp(last) + pd.Timedelta(days=1)).date())
    before = str((pd.Timestamp(first) - pd.Timedelta(days=1)).date())
    store = int(lstm_rows(served_model)["Store"].iloc[0])
    cases = [  # (model, date of row 1, message parts)
        ("lstm", beyond, ["rows[1].date: model 'lstm'", f"row 1: Date {beyond} is more than 60 "
                          "days after the end of the model's history", f"{first}..{last}"]),
        ("lstm", before, ["rows[1].date: model 'lstm'", f"row 1: Date {before} is not after"]),
        ("tree", "2030-01-01", ["rows[1].date: model 'tree'", "row 1: Date 2030-01-01 outside"]),
    ]
    good = good_row(served_model, store=store, date=first)
    for model, day, parts in cases:
        request = pb.PredictRequest(model=model, rows=[good, good_row(served_model, store=store,
                                                                      date=day)])
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request, timeout=60)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        assert all(part in err.value.details() for part in parts), err.value.details()
        ok = stub.Predict(pb.PredictRequest(model=model, rows=[good]), timeout=60)
        assert ok.model == model and ok.predictions[0].sales > 0

    instance = {"Store": store, "Date": beyond, "Promo": 0, "StateHoliday": "0",
                "SchoolHoliday": 0}
    with httpx.Client(base_url=stack["http"], timeout=30) as http:
        resp = http.post("/predict", json={"model": "lstm", "instances": [instance]})
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] == 3
        assert resp.json()["message"].startswith("rows[0].date: model 'lstm'")
        resp = http.post("/predict", json={"model": "tree",
                                           "instances": [{**instance, "Date": "2030-01-01"}]})
        assert resp.status_code == 400 and "rows[0].date: model 'tree'" in resp.json()["message"]
        resp = http.post("/predict", json={"model": "lstm", "instances": [
            {**instance, "Date": first}]})
        assert resp.status_code == 200 and resp.json()["model"] == "lstm"


@pytest.mark.parametrize("day", ["2600-03-01", "1431-01-01", "9999-12-31"])
def test_dates_beyond_the_calendar_are_refused_not_wrapped(stack, stub, served_model,
                                                          day) -> None:
    """Dates datetime64[ns] cannot hold used to wrap around into a confident forecast with OK:
    on both models, alone or inside a batch, gRPC and REST, they are INVALID_ARGUMENT naming
    the row, the field and the very date sent."""
    lstm_rows(served_model)  # skips without an LSTM
    first, _last = served_model.lstm_valid_dates
    store = int(lstm_rows(served_model)["Store"].iloc[0])
    good = good_row(served_model, store=store, date=first)
    for model in ("tree", "lstm"):
        for rows, index in (([good_row(served_model, store=store, date=day)], 0),
                            ([good] * 40 + [good_row(served_model, store=store, date=day)], 40)):
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(pb.PredictRequest(model=model, rows=rows), timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
            assert f"rows[{index}].date: '{day}' is outside" in err.value.details()
        instance = {"Store": store, "Date": day, "Promo": 0, "StateHoliday": "0",
                    "SchoolHoliday": 0}
        resp = httpx.post(f"{stack['http']}/predict", timeout=30,
                          json={"model": model, "instances": [instance]})
        assert resp.status_code == 400 and f"'{day}' is outside" in resp.json()["message"]
        assert stub.Predict(pb.PredictRequest(model=model, rows=[good]), timeout=30).predictions


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll `predicate` until true; the deadline is generous (a busy CI machine), the poll short."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def test_hot_reload_under_load_and_corrupt_versions(stack, served_model) -> None:
    from kedro.io.core import generate_timestamp

    catalog = served_model.catalog()
    with ForecastClient(stack["grpc"]) as client:
        before = client.info("tree")[0]["version"]
    model = catalog.load(served_model.dataset, version=before)
    rows = served_model.rows.head(20)
    rest_body = {"instances": rest_instances(rows)}
    errors: list[str] = []
    versions: list[str] = []  # version of each successful gRPC call, in order
    rest_ok = [0]
    stop = threading.Event()

    def grpc_load() -> None:
        with ForecastClient(stack["grpc"], timeout=60) as client:
            while not stop.is_set():
                try:
                    versions.append(client.predict(rows).attrs["version"])
                except Exception as exc:  # any failure is reported below
                    errors.append(f"grpc: {exc!r}")

    def rest_load() -> None:
        with httpx.Client(base_url=stack["http"], timeout=60) as http:
            while not stop.is_set():
                resp = http.post("/predict", json=rest_body)
                if resp.status_code != 200:
                    errors.append(f"rest: {resp.status_code} {resp.text}")
                else:
                    rest_ok[0] += 1

    def served_more(n: int):
        """Both load generators made `n` more successful calls than now."""
        g, r = len(versions), rest_ok[0]
        return lambda: len(versions) >= g + n and rest_ok[0] >= r + n

    def serving(v: str) -> bool:
        with ForecastClient(stack["grpc"]) as c:
            return c.info("tree")[0]["version"] == v

    threads = [threading.Thread(target=grpc_load), threading.Thread(target=rest_load)]
    for t in threads:
        t.start()
    try:
        _wait_for(served_more(3), what="load running")
        new_version = generate_timestamp()
        save_version(catalog, served_model.dataset, model, new_version)  # a new `kedro run`
        _wait_for(lambda: serving(new_version), what="new version served")
        _wait_for(lambda: new_version in versions[-1:], what="load on the new version")
        # a corrupt (half-written) newer version: logged, skipped, the good one keeps serving
        _wait_for(lambda: generate_timestamp() > new_version, what="a later timestamp")
        corrupt_version = generate_timestamp()
        save_corrupt_version(catalog, served_model.dataset, model, corrupt_version)
        _wait_for(lambda: "skipped" in ForecastClient(stack["grpc"]).info("tree")[0]["error"],
                  what="corrupt version skipped")
        _wait_for(served_more(3), what="load after the corrupt version")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert {before, new_version} <= set(versions) and corrupt_version not in versions
    with ForecastClient(stack["grpc"]) as client:
        info = client.info("tree")[0]
        assert info["version"] == new_version and info["status"] == "SERVING"
        assert corrupt_version in info["versions_on_disk"] and corrupt_version in info["error"]
        with pytest.raises(grpc.RpcError) as err:
            client.predict(rows, version=corrupt_version)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        pinned = client.predict(rows, version=before)
        assert pinned.attrs["version"] == before
    assert "Skipping tree version " + corrupt_version in (stack["logs"] / "server.log").read_text()


def test_worker_processes_share_the_port(fake_workspace: Path, tmp_path: Path) -> None:
    """`--processes 2`: two workers share one port, each loads the model, calls succeed;
    SIGTERM stops all of them cleanly."""
    from grpc_server.registry import load_project_catalog
    from tests.serving.fake_forecaster import FakeForecaster

    catalog, _ = load_project_catalog(fake_workspace)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    log = tmp_path / "server.log"
    server, port = procs.start_server(fake_workspace, log, "--processes", "2")
    try:
        procs.wait_serving(server, port, log)
        _wait_for(lambda: log.read_text().count("Now serving tree") == 2, timeout=60)
        for _ in range(20):  # new channels land on either worker
            with grpc.insecure_channel(f"127.0.0.1:{port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                resp = pbg.ForecastServiceStub(ch).Predict(
                    pb.PredictRequest(rows=[pb.StoreDay(store=1, date="2015-08-01",
                                                        state_holiday="0")]), timeout=60)
                assert resp.predictions[0].sales == 106.0
        pids = {line.split("[")[1].split("]")[0] for line in log.read_text().splitlines()
                if "Now serving tree" in line}
        assert len(pids) == 2
    finally:
        rc = procs.stop(server)
    assert rc == 0, log.read_text()
    assert log.read_text().count("ForecastService stopped") == 2


def test_a_burst_of_signals_drains_once(fake_workspace: Path, tmp_path: Path) -> None:
    """SIGTERMs arriving together (the process group's and a parent's forwarded one) must not
    nest in the handler: one drain, one log line, exit 0. A handler that took a lock (Event.set,
    logging) deadlocked when a second signal interrupted it; this one only records it."""
    import os
    import signal

    from grpc_server.registry import load_project_catalog
    from tests.serving.fake_forecaster import FakeForecaster

    catalog, _ = load_project_catalog(fake_workspace)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    log = tmp_path / "server.log"
    server, port = procs.start_server(fake_workspace, log)
    try:
        procs.wait_serving(server, port, log)
        for _ in range(200):  # spread over ~0.4 s: into the handler and the drain
            if server.poll() is not None:
                break
            os.kill(server.pid, signal.SIGTERM)
            time.sleep(0.002)
        rc = server.wait(60)
    finally:
        procs.stop(server)
    text = log.read_text()
    assert rc == 0, text
    assert text.count("Received SIGTERM") == 1 and text.count("ForecastService stopped") == 1
