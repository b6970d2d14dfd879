"""Scale-out benchmark: the pandas path vs `--env dask` on synthetic chains of 1,115 to 10,000
stores, step by step (data_processing, feature_engineering, tree training), and serving the
10,000-store model.

Each step is its own `kedro run` process (as a user runs it), sampled every 0.2 s with psutil:
wall time, peak RSS of the driver (the `kedro run` process) and of each Dask worker process
(its children). The pandas path is stopped and reported as failed if its RSS passes
`--pandas-cap-gb` (the machine is shared). The tree step trains the reference candidate
(`xgboost_v1`, every open day), chosen by a one-fold backtest of it alone, cut to `--xgb-rounds`
rounds so the whole table fits in ~25 minutes on 2 cores; both paths use the same settings.

    nice -n 15 .venv/bin/python benchmarks/bench_scale.py                  # 1115, 5000, 10000
    .venv/bin/python benchmarks/bench_scale.py --stores 200 600 --xgb-rounds 20   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
KEDRO = str(Path(sys.executable).with_name("kedro"))
STEPS = ("data_processing", "feature_engineering", "backtest", "tree_model")
MiB = 2**20


class Sampler:
    """Peak RSS of a process and of each of its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.peak_root = 0
        self.peak_children: dict[int, int] = {}
        self.kind: dict[int, str] = {}  # pid -> "worker" (a multiprocessing child) or "other"
        self.peak_total = 0
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.root.memory_info().rss
                total = rss
                self.peak_root = max(self.peak_root, rss)
                for child in self.root.children(recursive=True):
                    try:
                        c = child.memory_info().rss
                        if child.pid not in self.kind:
                            cmd = " ".join(child.cmdline())
                            self.kind[child.pid] = "worker" if "spawn_main" in cmd else "other"
                    except psutil.Error:
                        continue
                    total += c
                    self.peak_children[child.pid] = max(self.peak_children.get(child.pid, 0), c)
                self.peak_total = max(self.peak_total, total)
            except psutil.Error:
                pass
            self._stop.wait(self._every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def worker_peaks(self) -> list[int]:
        """Peak RSS of each Dask worker process (spawned children; not the resource tracker)."""
        return sorted((v for pid, v in self.peak_children.items()
                       if self.kind.get(pid) == "worker"), reverse=True)


def run_step(ws: Path, step: str, env: str | None, params: str, cap_bytes: int | None,
             log: Path) -> dict:
    cmd = [KEDRO, "run", "--pipeline", step] + (["--params", params] if params else [])
    if env:
        cmd += ["--env", env]
    t0 = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ws, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                env=dict(os.environ, KEDRO_DISABLE_TELEMETRY="true",
                                         DO_NOT_TRACK="1"))
    sampler = Sampler(proc.pid)
    capped = False
    while proc.poll() is None:
        if cap_bytes and sampler.peak_total > cap_bytes:
            capped = True
            os.killpg(proc.pid, 9)
            proc.wait()
            break
        time.sleep(0.2)
    sampler.stop()
    seconds = time.perf_counter() - t0
    ok = proc.returncode == 0 and not capped
    result = {"seconds": seconds, "driver_mib": sampler.peak_root / MiB,
              "workers_mib": [w / MiB for w in sampler.worker_peaks()],
              "total_mib": sampler.peak_total / MiB, "ok": ok, "capped": capped}
    if not ok and not capped:
        result["error"] = log.read_text()[-2000:]
    return result


def make_chain(root: Path, n_stores: int) -> Path:
    """Partitioned synthetic chain plus train.csv (streamed file by file, for the pandas path)."""
    import pandas as pd

    from rossmann_kedro.synthetic import write_partitioned

    raw = root / f"chain_{n_stores}"
    if not (raw / "train.csv").is_file():
        write_partitioned(raw, n_stores=n_stores, seed=42)
        with open(raw / ".train.csv.tmp", "w") as fh:
            for i, part in enumerate(sorted((raw / "train").glob("*.parquet"))):
                pd.read_parquet(part).to_csv(fh, header=i == 0, index=False)
        os.replace(raw / ".train.csv.tmp", raw / "train.csv")
    return raw


def workspace(root: Path, raw: Path, name: str, files: list[str]) -> Path:
    from rossmann_kedro.workspace import make_workspace

    ws = root / name
    if ws.exists():
        shutil.rmtree(ws)
    return make_workspace(ws, raw_files=[raw / f for f in files])


def serving_figures(ws: Path, rows: int, log: Path) -> dict:
    """Model load time and RSS in a fresh process, and a real server's RSS and single-row p50."""
    import grpc
    import pandas as pd

    from rossmann.v1 import forecast_pb2, forecast_pb2_grpc
    from tests.serving.processes import start_server, stop, wait_serving

    probe = subprocess.run(
        [sys.executable, "-c", (
            "import time, resource, json, sys\n"
            "from grpc_server.registry import load_project_catalog\n"
            "cat, _ = load_project_catalog(sys.argv[1])\n"
            "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "t = time.perf_counter(); m = cat.load('tree_forecaster'); dt = time.perf_counter() - t\n"
            "r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(json.dumps({'load_s': dt, 'load_rss_mib': r1 / 1024, 'rss_before_mib': r0 / 1024,"
            " 'stores': len(m.stores)}))"), str(ws)],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if probe.returncode:
        return {"error": probe.stderr[-1500:]}
    out = json.loads(probe.stdout.strip().splitlines()[-1])
    test = pd.read_csv(ws / "data" / "01_raw" / "test.csv", dtype={"StateHoliday": str})
    sample = test.loc[test["Open"] == 1].sample(rows, random_state=0, replace=True)
    t0 = time.perf_counter()
    proc, port = start_server(ws, log)
    try:
        wait_serving(proc, port, log, timeout=300)
        out["server_ready_s"] = time.perf_counter() - t0
        lat = []
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = forecast_pb2_grpc.ForecastServiceStub(ch)
            for r in sample.itertuples():
                req = forecast_pb2.PredictRequest(model="tree", rows=[forecast_pb2.StoreDay(
                    store=int(r.Store), date=r.Date, promo=bool(r.Promo),
                    state_holiday=r.StateHoliday, school_holiday=bool(r.SchoolHoliday))])
                t = time.perf_counter()
                stub.Predict(req, timeout=10)
                lat.append((time.perf_counter() - t) * 1000)
        out["p50_ms"] = statistics.median(lat[20:])
        out["server_rss_mib"] = psutil.Process(proc.pid).memory_info().rss / MiB
    finally:
        stop(proc)
    return out


def fmt(r: dict | None) -> tuple[str, str, str]:
    if r is None:
        return "–", "–", "–"
    if r.get("capped"):
        return f"killed at {r['seconds']:.0f}s", f"> cap ({r['total_mib'] / 1024:.1f} GB)", "–"
    if not r["ok"]:
        return "FAILED", "–", "–"
    workers = r["workers_mib"]
    w = f"{max(workers):,.0f} ({len(workers)})" if workers else "–"
    return f"{r['seconds']:.0f}", f"{r['driver_mib']:,.0f}", w


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, nargs="+", default=[1115, 5000, 10000])
    parser.add_argument("--xgb-rounds", type=int, default=10,
                        help="XGBoost rounds in both paths (the product's default is 300)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="4GiB", help="LocalCluster memory_limit")
    parser.add_argument("--pandas-cap-gb", type=float, default=8.0,
                        help="stop the pandas path above this RSS (the machine is shared)")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--paths", nargs="+", choices=["pandas", "dask"],
                        default=["pandas", "dask"], help="which paths, in this order")
    parser.add_argument("--serving-rows", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    root.mkdir(parents=True, exist_ok=True)
    # the tree training measured is the reference candidate (every open day: the table that
    # grows with the chain), chosen by a one-fold backtest of it alone
    tree = (f"tree_model.candidates.xgboost_v1.params.n_estimators={args.xgb_rounds},"
            "backtest.n_folds=1,backtest.models=[xgboost_v1]")
    cluster = (f"scale.cluster.n_workers={args.workers},scale.cluster.threads_per_worker=1,"
               f"scale.cluster.memory_limit={args.worker_memory}")
    load = os.getloadavg()
    print(f"bench_scale: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; XGBoost "
          f"{args.xgb_rounds} rounds (one-fold backtest of xgboost_v1); "
          f"Dask: LocalCluster {args.workers} workers x 1 thread, memory_limit "
          f"{args.worker_memory}; work dir {root}", flush=True)
    results: dict[tuple[int, str, str], dict] = {}
    dask_ws_by_n: dict[int, Path] = {}
    for n in args.stores:
        t = time.perf_counter()
        raw = make_chain(root, n)
        print(f"[{n} stores] chain generated in {time.perf_counter() - t:.0f}s", flush=True)
        files = {"dask": ["train", "store.csv", "test.csv", "_synthetic_partitioned.json"],
                 "pandas": ["train.csv", "store.csv", "test.csv"]}
        paths = [(p, files[p]) for p in args.paths if not (p == "pandas" and args.skip_pandas)]
        for path, files in paths:
            ws = workspace(root, raw, f"ws_{path}_{n}", files)
            log = root / f"log_{path}_{n}.txt"
            for step in STEPS:
                params = tree if step in ("backtest", "tree_model") else ""
                env = None
                if path == "dask":
                    params = f"{params},{cluster}" if params else cluster
                    env = "dask"
                cap = int(args.pandas_cap_gb * 2**30) if path == "pandas" else None
                r = run_step(ws, step, env, params, cap, log)
                results[(n, path, step)] = r
                print(f"[{n} stores] {path:6s} {step:20s} {fmt(r)[0]:>10s} s, driver "
                      f"{fmt(r)[1]:>8s} MiB, workers {fmt(r)[2]} MiB", flush=True)
                if not r["ok"]:
                    if "error" in r:
                        print(r["error"], flush=True)
                    break
            if path == "dask":
                dask_ws_by_n[n] = ws

    print("\n| stores | step | pandas: s | pandas: peak MiB | dask: s | dask: driver MiB | "
          "dask: max worker MiB (workers) |")
    print("|---|---|---|---|---|---|---|")
    for n in args.stores:
        for step in STEPS:
            p, d = fmt(results.get((n, "pandas", step))), fmt(results.get((n, "dask", step)))
            print(f"| {n:,} | {step} | {p[0]} | {p[1]} | {d[0]} | {d[1]} | {d[2]} |")
    done = [n for n in sorted(args.stores)
            if all((r := results.get((n, "dask", s))) and r["ok"] for s in STEPS)]
    if len(done) >= 2:
        lo, hi = done[-2], done[-1]

        def peaks(n: int) -> tuple[float, float]:
            steps = [results[(n, "dask", s)] for s in STEPS]
            return (max(s["driver_mib"] for s in steps),
                    max(max(s["workers_mib"] or [0]) for s in steps))

        (d0, w0), (d1, w1) = peaks(lo), peaks(hi)
        k = 1000 / (hi - lo)
        print(f"\ndask path, memory per 1,000 more stores (slope {lo:,} -> {hi:,} stores): driver "
              f"{(d1 - d0) * k:,.0f} MiB, each of {args.workers} workers {(w1 - w0) * k:,.0f} MiB")
    for n in args.stores:
        tp = [results.get((n, "pandas", s)) for s in STEPS]
        td = [results.get((n, "dask", s)) for s in STEPS]
        if all(r and r["ok"] for r in tp) and all(r and r["ok"] for r in td):
            sp, sd = sum(r["seconds"] for r in tp), sum(r["seconds"] for r in td)
            mp = max(r["total_mib"] for r in tp)
            md = max(max([r["driver_mib"], *r["workers_mib"]]) for r in td)
            print(f"{n:,} stores: pandas {sp:.0f} s, peak {mp:,.0f} MiB; dask {sd:.0f} s, largest "
                  f"process {md:,.0f} MiB; time dask/pandas {sd / sp:.2f}, largest process "
                  f"dask/pandas {md / mp:.2f}")
        elif any(r and r.get("capped") for r in tp):
            print(f"{n:,} stores: pandas path stopped above {args.pandas_cap_gb} GB; dask "
                  f"{'completed' if all(r and r['ok'] for r in td) else 'did not complete'}")
    if dask_ws_by_n:
        n = max(dask_ws_by_n)
        ws = dask_ws_by_n[n]
        if (ws / "data" / "06_models" / "tree_forecaster.pkl").is_dir():
            s = serving_figures(ws, args.serving_rows, root / f"server_{n}.log")
            print(f"\nserving the {n:,}-store model: {json.dumps(s)}")
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
