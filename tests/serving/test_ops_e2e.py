"""The operational surface end to end, on real server + gateway processes serving the trained tree
and LSTM models: /forecast and ForecastStore, /stores, probes, local docs assets, Prometheus
metrics of both processes, and the prediction log the server writes."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rossmann.v1 import forecast_pb2 as pb
from rossmann.v1 import forecast_pb2_grpc as pbg
from tests.serving import processes as procs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ops_stack(served_model, tmp_path_factory):
    logs = tmp_path_factory.mktemp("ops_logs")
    metrics_port = procs.free_port()
    with procs.server_and_gateway(served_model.workspace, logs,
                                  "--metrics-port", str(metrics_port)) as stack:
        yield {**stack, "metrics": f"http://127.0.0.1:{metrics_port}/metrics"}
    assert stack["server_rc"] == 0, (logs / "server.log").read_text()


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """name + sorted labels -> value, from a Prometheus text endpoint."""
    text = httpx.get(url, timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(all_samples: dict, name: str, **labels: str) -> float:
    return all_samples.get((name, tuple(sorted(labels.items()))), 0.0)


def a_store(served_model) -> int:
    return int(sorted(served_model.stores)[1])


def test_forecast_rest_matches_grpc_and_predict(ops_stack, served_model) -> None:
    store = a_store(served_model)
    resp = httpx.get(f"{ops_stack['http']}/forecast",
                     params={"store": store, "days": 42, "model": "tree"}, timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    fc, hist = body["forecast"], body["history"]
    assert len(fc) == 42 and body["model"] == "tree" and body["version"]
    assert body["store"]["Store"] == store and body["store"]["StoreType"] in "abcd"
    # history: the last 182 days, then the forecast starts the day after the data ends
    end = date.fromisoformat(body["store"]["HistoryEnd"])
    assert hist[-1]["Date"] == str(end) and len(hist) <= 182
    assert [d["Date"] for d in fc] == [str(end + timedelta(days=i)) for i in range(1, 43)]
    for d in fc:
        assert d["lower"] <= d["Sales"] <= d["upper"]
        assert (d["Sales"] == 0) == (d["Open"] == 0)
    assert body["rows_from_test"] + body["rows_from_rules"] == 42
    # the same over gRPC
    with grpc.insecure_channel(ops_stack["grpc"]) as ch:
        stub = pbg.ForecastServiceStub(ch)
        g = stub.ForecastStore(pb.ForecastStoreRequest(store=store, days=42, model="tree"),
                               timeout=30)
        # and Predict on the rows the forecast was made from gives the same numbers
        rows = [pb.StoreDay(store=store, date=f.date, open=f.open, promo=f.promo,
                            state_holiday=f.state_holiday, school_holiday=f.school_holiday)
                for f in g.forecast]
        p = stub.Predict(pb.PredictRequest(model="tree", rows=rows), timeout=30)
    assert [f.sales for f in g.forecast] == pytest.approx([d["Sales"] for d in fc], rel=1e-9)
    assert [x.sales for x in p.predictions] == pytest.approx([f.sales for f in g.forecast],
                                                             rel=1e-9)


def test_forecast_with_the_lstm(ops_stack, served_model) -> None:
    store = a_store(served_model)
    body = httpx.get(f"{ops_stack['http']}/forecast", timeout=30,
                     params={"store": store, "days": 42, "model": "lstm"}).json()
    assert body["model"] == "lstm" and len(body["forecast"]) == 42
    for d in body["forecast"]:
        assert d["lower"] <= d["Sales"] <= d["upper"] and (d["Sales"] > 0) == (d["Open"] == 1)
    tree = httpx.get(f"{ops_stack['http']}/forecast", timeout=30,
                     params={"store": store, "days": 42, "model": "tree"}).json()
    assert [d["Date"] for d in body["forecast"]] == [d["Date"] for d in tree["forecast"]]
    assert [d["Sales"] for d in body["forecast"]] != [d["Sales"] for d in tree["forecast"]]


def test_forecast_rows_come_from_test_csv_then_calendar_rules(ops_stack, served_model) -> None:
    store = a_store(served_model)
    test_rows = served_model.rows.loc[served_model.rows["Store"] == store].copy()
    test_rows["Date"] = pd.to_datetime(test_rows["Date"]).dt.strftime("%Y-%m-%d")
    known = test_rows.set_index("Date")
    n_known = len(known)
    days = n_known + 20  # past the end of test.csv
    body = httpx.get(f"{ops_stack['http']}/forecast",
                     params={"store": store, "days": days, "model": "tree"}, timeout=30).json()
    fc = body["forecast"]
    from_test = [d for d in fc if d["source"] == "test.csv"]
    from_rules = [d for d in fc if d["source"] == "calendar rules"]
    assert body["rows_from_test"] == len(from_test) == n_known
    assert body["rows_from_rules"] == len(from_rules) == 20
    for d in from_test:  # exactly test.csv's row
        row = known.loc[d["Date"]]
        assert (d["Promo"], d["StateHoliday"], d["SchoolHoliday"], d["Open"]) == (
            int(row.Promo), str(row.StateHoliday), int(row.SchoolHoliday),
            int(1 if pd.isna(row.Open) else row.Open))
    # rule-built rows continue the chain's promo weeks (Mon-Fri only) and close on Sundays
    # like the store does
    weekdays = [date.fromisoformat(d["Date"]).isoweekday() for d in from_rules]
    assert all(d["Promo"] == 0 for d, wd in zip(from_rules, weekdays, strict=True) if wd >= 6)
    assert any(d["Promo"] == 1 for d in from_rules)
    hist = pd.DataFrame(body["history"])
    hist_sunday_open = hist.loc[pd.to_datetime(hist["Date"]).dt.day_of_week == 6, "Open"].mean()
    rule_sunday_open = [d["Open"] for d, wd in zip(from_rules, weekdays, strict=True) if wd == 7]
    assert rule_sunday_open and all(o == int(hist_sunday_open >= 0.5) for o in rule_sunday_open)


@pytest.mark.parametrize(("params", "status", "grpc_code", "text"), [
    ({"store": 99999}, 404, "NOT_FOUND", "store: unknown store 99999"),
    ({"days": 0}, 400, None, "days: 0 is not positive"),
    ({"days": -3}, 400, None, "days: -3 is not positive"),
    ({"days": 1000}, 400, "INVALID_ARGUMENT", "days: 1000 is not in 1..100"),
    ({"model": "prophet"}, 404, "NOT_FOUND", "unknown model 'prophet'"),
    ({"history_days": -1}, 400, None, "history_days: -1 is negative"),
])
def test_forecast_rejects_bad_input(ops_stack, served_model, params, status, grpc_code,
                                    text) -> None:
    query = {"store": a_store(served_model), "days": 42, "model": "tree", **params}
    resp = httpx.get(f"{ops_stack['http']}/forecast", params=query, timeout=30)
    assert resp.status_code == status and text in resp.json()["message"], resp.text
    if grpc_code is None:
        return
    with grpc.insecure_channel(ops_stack["grpc"]) as ch:
        with pytest.raises(grpc.RpcError) as err:
            pbg.ForecastServiceStub(ch).ForecastStore(pb.ForecastStoreRequest(
                store=query["store"], days=query["days"], model=query["model"]), timeout=30)
    assert err.value.code().name == grpc_code and text in err.value.details()


def test_grpc_forecast_store_refuses_non_positive_days(ops_stack, served_model) -> None:
    with grpc.insecure_channel(ops_stack["grpc"]) as ch:
        stub = pbg.ForecastServiceStub(ch)
        for days in (0, -1):
            with pytest.raises(grpc.RpcError) as err:
                stub.ForecastStore(pb.ForecastStoreRequest(store=a_store(served_model),
                                                           days=days), timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"days: {days} is not in 1..100" in err.value.details()
        # unset = 42 days
        assert len(stub.ForecastStore(pb.ForecastStoreRequest(store=a_store(served_model)),
                                      timeout=30).forecast) == 42


def test_stores_probes_and_local_assets(ops_stack, served_model) -> None:
    base = ops_stack["http"]
    stores = httpx.get(f"{base}/stores", timeout=30).json()["stores"]
    assert {s["Store"] for s in stores} == set(served_model.stores)
    assert all(s["StoreType"] in "abcd" and s["Assortment"] in "abc" for s in stores)
    assert httpx.get(f"{base}/livez", timeout=10).json() == {"status": "alive"}
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["models"] == {"tree": "SERVING",
                                                                   "lstm": "SERVING"}
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "SERVING"}
    # docs, ReDoc and the explorer load every script from this gateway, none from a CDN
    for page in ("/docs", "/redoc", "/", "/explorer"):
        html = httpx.get(f"{base}{page}", timeout=10).text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        urls += re.findall(r"""(?:url|_url)\s*[:=]\s*["']([^"']+)["']""", html)
        assert urls, page
        assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], (page, urls)
        for u in urls:
            if u.startswith("/static/"):
                assert httpx.get(f"{base}{u}", timeout=30).status_code == 200, u
    js = httpx.get(f"{base}/static/plotly.min.js", timeout=30)
    assert js.status_code == 200 and "plotly.js" in js.text[:2000]
    sw = httpx.get(f"{base}/static/swagger/swagger-ui-bundle.js", timeout=30)
    assert sw.status_code == 200 and len(sw.content) > 500_000


def test_readyz_is_503_when_grpc_is_unreachable(tmp_path) -> None:
    gateway, hport = procs.start_gateway(procs.free_port(), tmp_path / "gw.log")
    try:
        procs.wait_http(gateway, hport, tmp_path / "gw.log")
        assert httpx.get(f"http://127.0.0.1:{hport}/livez", timeout=10).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{hport}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["grpc"] == "UNAVAILABLE"
    finally:
        procs.stop(gateway)


def test_metrics_count_requests_rows_versions(ops_stack, served_model) -> None:
    before_g = samples(ops_stack["metrics"])
    before_h = samples(f"{ops_stack['http']}/metrics")
    rows = served_model.rows.head(5)
    instances = [{"Store": int(r.Store), "Date": str(r.Date)[:10], "Promo": int(r.Promo),
                  "StateHoliday": str(r.StateHoliday), "SchoolHoliday": int(r.SchoolHoliday)}
                 for r in rows.itertuples()]
    for _ in range(3):
        ok = httpx.post(f"{ops_stack['http']}/predict", json={"instances": instances}, timeout=30)
        assert ok.status_code == 200
    bad = httpx.post(f"{ops_stack['http']}/predict", timeout=30,
                     json={"model": "prophet", "instances": instances})
    assert bad.status_code == 404
    after_g = samples(ops_stack["metrics"])
    after_h = samples(f"{ops_stack['http']}/metrics")

    def delta(after, before, name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(after_g, before_g, "rossmann_grpc_requests_total",
                 method="Predict", model="tree", code="OK") == 3
    assert delta(after_g, before_g, "rossmann_grpc_requests_total",
                 method="Predict", model="unknown", code="NOT_FOUND") == 1
    assert delta(after_g, before_g, "rossmann_rows_predicted_total",
                 method="Predict", model="tree") == 15
    assert delta(after_g, before_g, "rossmann_grpc_request_seconds_count",
                 method="Predict", model="tree") == 3
    version = httpx.get(f"{ops_stack['http']}/model?model=tree", timeout=10).json()[
        "models"][0]["version"]
    assert value(after_g, "rossmann_model_version_info", model="tree", version=version) == 1
    assert value(after_g, "rossmann_model_reloads_total", model="tree") >= 1
    assert delta(after_h, before_h, "rossmann_http_requests_total", route="/predict",
                 method="POST", model="tree", status="200") == 3
    assert delta(after_h, before_h, "rossmann_http_requests_total", route="/predict",
                 method="POST", model="", status="404") == 1
    assert delta(after_h, before_h, "rossmann_http_request_seconds_count", route="/predict",
                 method="POST") == 4


def test_prediction_log_records_what_was_served(ops_stack, served_model) -> None:
    from grpc_server.registry import load_project_catalog

    rows = served_model.rows.sample(7, random_state=3)
    marker_ids = list(range(900_000, 900_007))
    req = pb.PredictRequest(model="lstm", rows=[
        pb.StoreDay(store=int(r.Store), date=str(r.Date)[:10], promo=bool(r.Promo),
                    open=True, state_holiday=str(r.StateHoliday),
                    school_holiday=bool(r.SchoolHoliday), id=i)
        for r, i in zip(rows.itertuples(), marker_ids, strict=True)])
    with grpc.insecure_channel(ops_stack["grpc"]) as ch:
        resp = pbg.ForecastServiceStub(ch).Predict(req, timeout=30)
    catalog = load_project_catalog(served_model.workspace)[0]
    deadline = time.monotonic() + 60
    while True:  # written off the request path: wait for the writer thread
        log = catalog.load("prediction_log")
        mine = log.loc[log["Id"].isin(marker_ids)].sort_values("Id")
        if len(mine) == 7 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(mine) == 7
    assert (mine["model"] == "lstm").all() and (mine["version"] == resp.version).all()
    assert (mine["method"] == "Predict").all() and mine["train_end"].str.len().eq(10).all()
    assert mine["Store"].tolist() == [p.store for p in resp.predictions]
    assert mine["Date"].dt.strftime("%Y-%m-%d").tolist() == [p.date for p in resp.predictions]
    np.testing.assert_allclose(mine[["Sales", "lower", "upper"]].to_numpy(),
                               [[p.sales, p.lower, p.upper] for p in resp.predictions])
    assert (mine["request_time"] > pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=10)).all()


def test_metrics_add_up_across_worker_processes(tmp_path) -> None:
    """`serve --processes 2`: workers write to PROMETHEUS_MULTIPROC_DIR, the parent's metrics
    port shows their sum (the parent itself answers no call), and each worker appends its own
    prediction log file."""
    from grpc_server.registry import load_project_catalog
    from tests.serving.conftest import _fake_served_model

    served = _fake_served_model(tmp_path)
    metrics_port = procs.free_port()
    log = tmp_path / "server.log"
    server, port = procs.start_server(served.workspace, log, "--processes", "2",
                                      "--metrics-port", str(metrics_port))
    ok = unavailable = 0
    try:
        procs.wait_serving(server, port, log)
        req = pb.PredictRequest(rows=[pb.StoreDay(store=int(min(served.stores)),
                                                  date="2015-08-03", state_holiday="0")] * 3)
        for _ in range(30):  # fresh connections: the kernel spreads them over the workers
            with grpc.insecure_channel(f"127.0.0.1:{port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                stub = pbg.ForecastServiceStub(ch)
                for _ in range(2):
                    try:
                        stub.Predict(req, timeout=30)
                        ok += 1
                    except grpc.RpcError as exc:  # the other worker may still be loading
                        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                        unavailable += 1
        got = samples(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        assert procs.stop(server) == 0, log.read_text()
    assert ok >= 30
    assert value(got, "rossmann_grpc_requests_total", method="Predict", model="tree",
                 code="OK") == ok
    assert value(got, "rossmann_grpc_requests_total", method="Predict", model="tree",
                 code="UNAVAILABLE") == unavailable
    assert value(got, "rossmann_rows_predicted_total", method="Predict", model="tree") == 3 * ok
    assert value(got, "rossmann_grpc_request_seconds_count", method="Predict",
                 model="tree") == ok + unavailable
    # each worker logs to its own file; together they hold every served row
    files = list((served.workspace / "data" / "09_prediction_log").glob("date=*/*.jsonl"))
    assert 1 <= len(files) <= 2
    assert len(load_project_catalog(served.workspace)[0].load("prediction_log")) == 3 * ok


def test_grafana_dashboard_queries_metrics_that_exist(ops_stack, served_model) -> None:
    import json
    from pathlib import Path

    r = served_model.rows.iloc[0]
    instance = {"Store": int(r.Store), "Date": str(r.Date)[:10], "Promo": int(r.Promo),
                "StateHoliday": str(r.StateHoliday), "SchoolHoliday": int(r.SchoolHoliday)}
    assert httpx.post(f"{ops_stack['http']}/predict", json={"instances": [instance]},
                      timeout=30).status_code == 200
    dashboard = json.loads((Path(procs.REPO_ROOT) / "docs" / "grafana" /
                            "rossmann-serving.json").read_text())
    used = {name for p in dashboard["panels"] for t in p["targets"]
            for name in re.findall(r"rossmann_[a-z_]+", t["expr"])}
    exposed = {name for url in (ops_stack["metrics"], f"{ops_stack['http']}/metrics")
               for name, _ in samples(url)}
    # labelled metrics are listed once they have a sample: no version was rejected here
    assert used and used <= exposed | {"rossmann_model_versions_rejected_total"}, used - exposed
