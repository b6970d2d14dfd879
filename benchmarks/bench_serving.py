"""Serving speed on loopback: a gRPC server and the REST gateway (real processes, as deployed)
serving the tree and LSTM models from one workspace, and a bounded load generator.

Per model (`--models`, default tree,lstm) it prints an in-process breakdown of a single-row
Predict, p50/p95/p99 latency and throughput for single-row gRPC Predict and single-row REST
/predict (and the REST overhead over gRPC), one whole-test.csv batch call (gRPC and REST) with
parity against the batch pipeline's `<model>_test_predictions`, and a sustained run (default 30 s)
of single-row gRPC calls from concurrent async clients, with errors. Prometheus metrics are
on; the single-row gRPC and sustained figures are measured with the prediction log on and off
(`--log-settings`), and the log's written/dropped/failed record counts are read from the
server's /metrics.
Targets (issue 4, 2 cores): gRPC single row p50 <= 2 ms, p99 <= 10 ms; test.csv batch <= 1 s;
REST overhead <= 2 ms p50; >= 1,000 req/s for 30 s with 0 errors.

Model source, first that applies:
  --workspace DIR   a workspace (created with the real raw files if missing); models it lacks
                    are linked from --link-models-from workspaces, else trained in it
  real data         ../shared/data/rossmann present: <tmp>/bench_serving_ws (models trained
                    once via data_processing + feature_engineering + tree_model + lstm_model)
  synthetic         otherwise: a synthetic workspace trained the same way
  --fake-model      a trivial Forecaster as "tree" (measures the serving layer alone)

    python benchmarks/bench_serving.py [--models tree,lstm] [--duration 30] [--concurrency 8]
    python benchmarks/bench_serving.py --workspace /tmp/ws \
        --link-models-from /tmp/tree_ws /tmp/lstm_ws     # serve models trained elsewhere
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

import grpc  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from grpc_server.client import frame_to_rows, read_kaggle_csv  # noqa: E402
from rossmann.v1 import forecast_pb2 as pb  # noqa: E402
from rossmann.v1 import forecast_pb2_grpc as pbg  # noqa: E402
from tests.serving import processes as procs  # noqa: E402

REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "rossmann"
REAL_FILES = ("train.csv.gz", "store.csv.gz", "test.csv.gz")
MSG = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


MODELS = {"tree": "tree_forecaster", "lstm": "lstm_forecaster"}


def _has_model(ws: Path, model: str) -> bool:
    return bool(list((ws / "data" / "06_models").glob(f"{MODELS[model]}.pkl/*/*")))


def link_models(ws: Path, sources: list[Path], models: list[str]) -> None:
    """Serve models trained in other workspaces: symlink their versioned dataset directories
    (and batch predictions, for the parity check) into `ws`, for models `ws` does not have."""
    for model in models:
        if _has_model(ws, model):
            continue
        for src in sources:
            if not _has_model(src, model):
                continue
            for sub in (f"06_models/{MODELS[model]}.pkl",
                        f"07_model_output/{model}_test_predictions.parquet"):
                target, link = src / "data" / sub, ws / "data" / sub
                if target.exists() and not link.exists():
                    link.symlink_to(target.resolve())
            print(f"{model}: serving the versions of {src}", flush=True)
            break


def prepare_workspace(args: argparse.Namespace, models: list[str]) -> tuple[Path, pd.DataFrame, str]:
    """(workspace, test rows in Kaggle format, description)."""
    from rossmann_kedro.workspace import make_workspace, run_pipeline

    if args.fake_model:
        import shutil

        from tests.serving.conftest import _fake_served_model

        shutil.rmtree("/tmp/bench_serving_fake", ignore_errors=True)
        served = _fake_served_model(Path("/tmp/bench_serving_fake"))
        rows = served.rows
        reps = int(np.ceil(41_088 / len(rows)))  # test.csv-sized batch of the fake's stores
        big = pd.concat([rows] * reps, ignore_index=True).head(41_088)
        big["Id"] = np.arange(1, len(big) + 1)
        return served.workspace, big, "fake model (serving layer only)"
    real = (REAL_DATA / "train.csv.gz").is_file()
    if args.workspace:
        ws = args.workspace
        if not (ws / "conf").is_dir():
            make_workspace(ws, raw_files=[REAL_DATA / f for f in REAL_FILES] if real else [])
    elif real:
        ws = Path(tempfile.gettempdir()) / "bench_serving_ws"
        make_workspace(ws, raw_files=[REAL_DATA / f for f in REAL_FILES])
    else:
        ws = make_workspace(Path(tempfile.gettempdir()) / "bench_serving_synth_ws")
    link_models(ws, args.link_models_from or [], models)
    missing = [m for m in models if not _has_model(ws, m)]
    if missing:
        print(f"training {missing} in {ws} (once; reused by later runs) ...", flush=True)
        t0 = time.perf_counter()
        if "tree" in missing or not (ws / "data" / "03_primary" / "sales_with_store.parquet").exists():
            run_pipeline(ws, "data_processing")
            run_pipeline(ws, "feature_engineering")
        for model in ("tree", "lstm"):  # tree first: lstm_model compares itself with its metrics
            if model in missing:
                run_pipeline(ws, f"{model}_model")
        print(f"  trained in {time.perf_counter() - t0:.0f} s", flush=True)
    raw = ws / "data" / "01_raw"
    test_csv = next((p for p in (raw / "test.csv.gz", raw / "test.csv",
                                 raw / "synthetic" / "test.csv") if p.exists()), None)
    if test_csv is None:
        raise SystemExit(f"no test.csv in {raw}")
    source = "real Kaggle data" if (raw / "test.csv.gz").exists() else "synthetic data"
    return ws, read_kaggle_csv(test_csv), f"models {models} trained on {source} ({ws})"


def stats(lat_s: list[float] | np.ndarray) -> str:
    ms = np.asarray(lat_s) * 1e3
    return (f"p50 {np.percentile(ms, 50):7.3f} ms  p95 {np.percentile(ms, 95):7.3f} ms  "
            f"p99 {np.percentile(ms, 99):7.3f} ms  max {ms.max():7.2f} ms  (n={len(ms)})")


def bench_grpc_single(target: str, requests: list[pb.PredictRequest], n: int) -> np.ndarray:
    with grpc.insecure_channel(target, options=MSG) as ch:
        stub = pbg.ForecastServiceStub(ch)
        for r in requests[:200]:
            stub.Predict(r, timeout=10)
        lat = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            stub.Predict(requests[i % len(requests)], timeout=10)
            lat[i] = time.perf_counter() - t0
    return lat


def bench_rest_single(url: str, bodies: list[dict], n: int) -> np.ndarray:
    with httpx.Client(base_url=url, timeout=10) as http:
        for b in bodies[:200]:
            http.post("/predict", json=b).raise_for_status()
        lat = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            resp = http.post("/predict", json=bodies[i % len(bodies)])
            lat[i] = time.perf_counter() - t0
            if resp.status_code != 200:
                raise RuntimeError(resp.text)
    return lat


def bench_batch(target: str, url: str, rows: pd.DataFrame, reps: int, ws: Path,
                model: str) -> None:
    msgs = frame_to_rows(rows)
    req = pb.PredictRequest(model=model, rows=msgs)
    with grpc.insecure_channel(target, options=MSG) as ch:
        stub = pbg.ForecastServiceStub(ch)
        stub.Predict(req, timeout=60)
        lat = []
        for _ in range(reps):
            t0 = time.perf_counter()
            resp = stub.Predict(req, timeout=60)
            lat.append(time.perf_counter() - t0)
    assert len(resp.predictions) == len(rows)
    print(f"[{model}] gRPC batch of {len(rows):,} rows (one call, {reps}x): "
          f"median {np.median(lat):.3f} s  min {min(lat):.3f} s  max {max(lat):.3f} s  "
          f"({req.ByteSize() / 1e6:.1f} MB request)")
    batch_file = ws / "data" / "07_model_output" / f"{model}_test_predictions.parquet"
    if batch_file.exists() and "Id" in rows.columns:
        served = pd.DataFrame({"Id": [p.id for p in resp.predictions],
                               "Sales": [p.sales for p in resp.predictions],
                               "lower": [p.lower for p in resp.predictions],
                               "upper": [p.upper for p in resp.predictions]})
        batch = pd.read_parquet(batch_file)
        m = served.merge(batch, on="Id", suffixes=("", "_batch"), validate="1:1")
        rel = max(float(np.max(np.abs(m[c] - m[f"{c}_batch"])
                               / np.maximum(np.abs(m[f"{c}_batch"]), 1e-12)))
                  for c in ("Sales", "lower", "upper"))
        print(f"[{model}] parity with the batch pipeline ({batch_file.name}): {len(m):,} rows matched, "
              f"max relative difference {rel:.2e}")
    body = {"model": model, "instances": rest_bodies(rows, model, single=False)}
    with httpx.Client(base_url=url, timeout=120) as http:
        http.post("/predict", json=body).raise_for_status()
        lat = []
        for _ in range(max(1, reps // 2)):
            t0 = time.perf_counter()
            http.post("/predict", json=body).raise_for_status()
            lat.append(time.perf_counter() - t0)
    print(f"[{model}] REST batch of {len(rows):,} rows (one call, {len(lat)}x): "
          f"median {np.median(lat):.3f} s")


def rest_bodies(rows: pd.DataFrame, model: str, single: bool = True) -> list:
    items = []
    for r in rows.itertuples(index=False):
        item = {"Store": int(r.Store), "Date": str(r.Date)[:10], "DayOfWeek": int(r.DayOfWeek),
                "Promo": int(r.Promo), "StateHoliday": str(r.StateHoliday),
                "SchoolHoliday": int(r.SchoolHoliday), "Id": int(r.Id)}
        if r.Open == r.Open:
            item["Open"] = int(r.Open)
        items.append({"model": model, "instances": [item]} if single else item)
    return items


async def _sustained(target: str, requests: list[pb.PredictRequest], duration: float,
                     concurrency: int) -> tuple[list[float], int, int, float]:
    lat: list[float] = []
    errors = 0
    ok = 0
    # separate connections (not one shared subchannel), so --server-processes N spreads them
    channels = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(min(concurrency, 4))]
    stubs = [pbg.ForecastServiceStub(c) for c in channels]
    end = time.perf_counter() + duration

    async def worker(k: int) -> None:
        nonlocal errors, ok
        stub = stubs[k % len(stubs)]
        i = k
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                await stub.Predict(requests[i % len(requests)], timeout=10)
                ok += 1
                lat.append(time.perf_counter() - t0)
            except grpc.aio.AioRpcError:
                errors += 1
            i += concurrency

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - t0
    for c in channels:
        await c.close()
    return lat, ok, errors, elapsed


def _sustained_worker(target: str, requests: list[bytes], duration: float, concurrency: int,
                      start_at: float, out) -> None:
    """One load-generator process (see --load-processes): its own event loop and channels."""
    reqs = [pb.PredictRequest.FromString(b) for b in requests]
    time.sleep(max(0.0, start_at - time.time()))
    lat, ok, errors, elapsed = asyncio.run(_sustained(target, reqs, duration, concurrency))
    out.put((lat, ok, errors, elapsed))


def sustained_run(target: str, requests: list[pb.PredictRequest], duration: float,
                  concurrency: int, processes: int) -> tuple[list[float], int, int, float]:
    """`_sustained` in this process (processes=1), or split over `processes` load-generator
    processes (a Python client costs about as much CPU per call as the server: one process
    can be the bottleneck rather than the server)."""
    if processes <= 1:
        return asyncio.run(_sustained(target, requests, duration, concurrency))
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    blobs = [r.SerializeToString() for r in requests]
    start_at = time.time() + 3.0  # all start together, after the spawn/import cost
    per = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    workers = [ctx.Process(target=_sustained_worker,
                           args=(target, blobs[i::processes], duration, c, start_at, out))
               for i, c in enumerate(per)]
    for w in workers:
        w.start()
    parts = [out.get(timeout=duration + 120) for _ in workers]
    for w in workers:
        w.join()
    lat = [x for p in parts for x in p[0]]
    return (lat, sum(p[1] for p in parts), sum(p[2] for p in parts),
            max(p[3] for p in parts))


def _cpu_and_parent(pid: int) -> tuple[float, int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, -1
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[1])


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (the workers of `serve --processes N`)."""
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and int(e.name) != pid and _cpu_and_parent(int(e.name))[1] == pid]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live child processes (server workers)."""
    return _cpu_and_parent(pid)[0] + sum(_cpu_and_parent(c)[0] for c in children(pid))


def _best_ms(fn, n: int = 200) -> float:
    for _ in range(min(20, n)):
        fn()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(max(1, n // 5)):
            fn()
        runs.append((time.perf_counter() - t0) / max(1, n // 5) * 1e3)
    return min(runs)


def profile_single_row(ws: Path, rows: pd.DataFrame, model: str) -> frozenset[int]:
    """In-process breakdown of one single-row Predict (best of 5 x 40 calls): where the
    milliseconds go, so a slow model can be fixed where it is slow. Returns its stores."""
    import cProfile
    import io
    import pstats

    from grpc_server.registry import ModelRegistry, load_project_catalog
    from grpc_server.servicer import predict

    catalog, params = load_project_catalog(ws)
    models = (params.get("serving") or {}).get("models")
    reg = ModelRegistry(catalog, models=models)
    reg.refresh()
    loaded = reg.get(model)
    f = loaded.forecaster
    rows = rows.loc[rows["Store"].isin(f.stores)]
    req = pb.PredictRequest(model=model, rows=frame_to_rows(rows.head(1)))
    from grpc_server.convert import columns_from_parts, frame_from_columns, rows_to_frame

    converted = rows_to_frame(req.rows, loaded.known_stores, 10)
    frame = converted.frame
    print(f"[{model}] single-row Predict in process ({type(f).__name__} {loaded.version}):")
    print(f"  whole servicer path       {_best_ms(lambda: predict(reg, req, 10)):8.3f} ms")
    print(f"  request -> columns        {_best_ms(lambda: rows_to_frame(req.rows, loaded.known_stores, 10)):8.3f} ms")
    print(f"  columns -> DataFrame      {_best_ms(lambda: frame_from_columns([converted.columns])):8.3f} ms")
    print(f"  forecaster.predict(frame) {_best_ms(lambda: f.predict(frame)):8.3f} ms")
    if hasattr(f, "predict_arrays"):  # what the server calls (no DataFrames)
        cols = columns_from_parts([converted.columns])
        print(f"  forecaster.predict_arrays {_best_ms(lambda: f.predict_arrays(cols)):8.3f} ms"
              "  (the server's path)")
    if hasattr(f, "pipeline") and hasattr(f, "context") and hasattr(f, "check_fast_path"):
        from rossmann_kedro.features import build_features

        X = build_features(frame, f.context)
        pipe = f.pipeline
        Xt = pipe[:-1].transform(X)
        est = pipe.steps[-1][1]
        print(f"    build_features          {_best_ms(lambda: build_features(frame, f.context)):8.3f} ms")
        print(f"    pipeline.predict        {_best_ms(lambda: pipe.predict(X)):8.3f} ms")
        print(f"      preprocessing steps   {_best_ms(lambda: pipe[:-1].transform(X)):8.3f} ms")
        print(f"      {type(est).__name__}.predict {_best_ms(lambda: est.predict(Xt)):8.3f} ms"
              f"  (n_jobs={getattr(est, 'n_jobs', '?')})")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(100):
        predict(reg, req, 10)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(8)
    print("  cProfile, 100 calls, top by own time:")
    print("\n".join("    " + line for line in out.getvalue().splitlines()
                    if line.strip() and ("ncalls" in line or "{" in line or "/" in line)))
    return frozenset(f.stores)


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--link-models-from", type=Path, nargs="*", metavar="WS",
                    help="workspaces whose trained models to serve (when --workspace lacks them)")
    ap.add_argument("--models", default="tree,lstm", help="comma-separated models to measure")
    ap.add_argument("--fake-model", action="store_true")
    ap.add_argument("--n", type=int, default=3000, help="sequential single-row calls")
    ap.add_argument("--batch-reps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=30.0, help="sustained run, seconds")
    ap.add_argument("--sustained-models", default="tree",
                    help="models with a sustained run (comma-separated; '' = none)")
    ap.add_argument("--concurrency", type=int, default=8, help="sustained run, calls in flight")
    ap.add_argument("--load-processes", type=int, default=1,
                    help="sustained run: load-generator processes sharing --concurrency")
    ap.add_argument("--server-threads", type=int, default=8)
    ap.add_argument("--server-processes", type=int, default=1)
    ap.add_argument("--log-settings", default="on,off",
                    help="prediction log settings to measure gRPC single rows and the sustained "
                    "run with (REST and batch figures: first setting only)")
    ap.add_argument("--profile-only", action="store_true",
                    help="only the in-process single-row breakdown (no servers)")
    args = ap.parse_args()
    models = ["tree"] if args.fake_model else [m for m in args.models.split(",") if m]
    sustained = [m for m in args.sustained_models.split(",") if m in models]

    ws, rows, what = prepare_workspace(args, models)
    print(f"{what}\nrows: {len(rows):,} test rows; {os.cpu_count()} CPUs; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    model_rows = {}
    for model in models:
        stores = profile_single_row(ws, rows, model)
        model_rows[model] = rows.loc[rows["Store"].isin(stores)]
    if args.profile_only:
        return

    logs = Path("/tmp/bench_serving_logs")
    logs.mkdir(exist_ok=True)
    settings = [x for x in args.log_settings.split(",") if x in ("on", "off")]
    summary = []
    for i, setting in enumerate(settings):
        summary += run_setting(args, ws, models, sustained, model_rows, logs, setting,
                               full=i == 0)
    print("\nsummary (prediction log setting, model, figure):")
    for line in summary:
        print("  " + line)


def run_setting(args: argparse.Namespace, ws: Path, models: list[str], sustained: list[str],
                model_rows: dict, logs: Path, setting: str, full: bool) -> list[str]:
    """Start server + gateway with the prediction log `setting` ("on"/"off") and measure."""
    print(f"\n=== prediction log {setting}, metrics on ===", flush=True)
    metrics_port = procs.free_port()
    server, gport = procs.start_server(ws, logs / "server.log", "--threads",
                                       str(args.server_threads), "--processes",
                                       str(args.server_processes), "--metrics-port",
                                       str(metrics_port),
                                       "--prediction-log" if setting == "on"
                                       else "--no-prediction-log")
    gateway = None
    out = []
    try:
        procs.wait_serving(server, gport, logs / "server.log", timeout=300)
        gateway, hport = procs.start_gateway(gport, logs / "gateway.log")
        procs.wait_http(gateway, hport, logs / "gateway.log")
        target, url = f"127.0.0.1:{gport}", f"http://127.0.0.1:{hport}"
        wait_all_serving(target, models)
        requests = {}
        for model in models:
            mrows = model_rows[model]
            singles = mrows.sample(n=min(2000, len(mrows)), random_state=0)
            requests[model] = [pb.PredictRequest(model=model, rows=[m])
                               for m in frame_to_rows(singles)]
            g = bench_grpc_single(target, requests[model], args.n)
            print(f"[{model}] gRPC single row, sequential: {stats(g)}  -> {1 / g.mean():,.0f} req/s")
            out.append(f"log {setting:3} [{model}] gRPC single row: {stats(g)}")
            if not full:
                continue
            r = bench_rest_single(url, rest_bodies(singles, model), args.n)
            print(f"[{model}] REST single row, sequential: {stats(r)}  -> {1 / r.mean():,.0f} req/s")
            print(f"[{model}] REST overhead over gRPC: p50 {1e3 * (np.median(r) - np.median(g)):.3f} ms")
            bench_batch(target, url, mrows, args.batch_reps, ws, model)
        for model in sustained:
            # the batch calls above queued ~10^5 log records: let the writer finish them, so the
            # sustained run measures steady single-row serving, not that backlog
            wait_log_idle(f"http://127.0.0.1:{metrics_port}/metrics")
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            cpu0 = cpu_seconds(server.pid), time.perf_counter()
            lat, ok, errors, elapsed = sustained_run(target, requests[model], args.duration,
                                                     args.concurrency, args.load_processes)
            busy = (cpu_seconds(server.pid) - cpu0[0]) / (time.perf_counter() - cpu0[1])
            line = (f"[{model}] sustained gRPC single rows, {args.concurrency} in flight from "
                    f"{args.load_processes} load process(es), {elapsed:.0f} s: "
                    f"{ok / elapsed:,.0f} req/s, {errors} errors; {stats(lat)}; "
                    f"server used {busy:.2f} cores ({1e3 * busy / max(ok / elapsed, 1):.2f} "
                    "ms CPU per request)")
            print(line)
            out.append(f"log {setting:3} {line}")
        log_counts = scrape_log_counts(f"http://127.0.0.1:{metrics_port}/metrics")
        print(f"prediction log records: {log_counts}")
        out.append(f"log {setting:3} prediction log records {log_counts}")
        workers = children(server.pid)
        rss = (f"{peak_rss_mb(server.pid):.0f} MB" if not workers else
               f"{peak_rss_mb(server.pid):.0f} MB parent + workers "
               + "/".join(f"{peak_rss_mb(w):.0f}" for w in workers) + " MB")
        print(f"server peak RSS {rss}; gateway "
              f"{peak_rss_mb(gateway.pid):.0f} MB; load generator "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if gateway is not None:
            procs.stop(gateway)
        procs.stop(server)
    return out


def wait_log_idle(url: str, timeout: float = 300) -> None:
    """Until the written-records counter stays put for 2 s (the writer's queue is empty)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = scrape_log_counts(url).get("written")
        if now == last:
            return
        last = now
        time.sleep(2)


def scrape_log_counts(url: str) -> dict[str, float]:
    """written / dropped / failed prediction log records, from the server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            if sample.name.startswith("rossmann_prediction_log_") and sample.name.endswith("_total"):
                key = sample.name.removeprefix("rossmann_prediction_log_").removesuffix("_total")
                out[key] = sample.value
    return out


def wait_all_serving(target: str, models: list[str], timeout: float = 300) -> None:
    """Health turns SERVING with the first loaded model; wait for every measured one."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as ch:
        stub = pbg.ForecastServiceStub(ch)
        while True:
            info = {m.name: m.status for m in stub.GetModelInfo(pb.GetModelInfoRequest()).models}
            if all(info.get(m) == pb.ModelInfo.SERVING for m in models):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"models not all SERVING: {info}")
            time.sleep(0.2)


if __name__ == "__main__":
    main()
