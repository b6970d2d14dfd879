"""Benchmark the lstm_model pipeline: training time of the default config (the validation-phase
fit and the served refit) and the validation-phase model's RMSPE on the real shared data
(target: <= 10 min on 2 cores, RMSPE <= 0.15), plus serving figures of the saved forecaster
(load time, single-row and whole-test.csv predict latency).

    python benchmarks/bench_lstm.py                 # real data in ../shared/data/rossmann
    python benchmarks/bench_lstm.py --synthetic     # the 60-store synthetic default
    python benchmarks/bench_lstm.py --workspace /tmp/bench_lstm_ws --param lstm_model.epochs=5

Runs in a throwaway workspace (`rossmann_kedro.workspace`), never in the repo's data/. Without
the backtest's outputs there it saves what a backtest without the LSTM saves (the model keeps
its own bands).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import resource
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("COLUMNS", "200")  # keep Kedro's rich log lines readable

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "rossmann"


def _latest(path: Path) -> Path:
    """The newest version file of a versioned dataset directory."""
    return sorted(path.iterdir())[-1] / path.name


def _param_overrides(items: list[str]) -> dict:
    """["lstm_model.epochs=5", ...] -> {"lstm_model": {"epochs": 5}} (values parsed as JSON)."""
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = parsed
    return out


def _stand_in_for_the_backtest(ws: Path) -> None:
    """lstm_model reads the backtest's LSTM bands and figures; this benchmark times the LSTM's
    own training (bench_backtest.py times the backtest), so it saves the values a backtest
    without the LSTM saves: the model then keeps its own bands."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ws)
    with contextlib.chdir(ws), KedroSession.create(project_path=ws) as session:
        catalog = session.load_context().catalog  # relative paths: from the workspace
        catalog.save("backtest_lstm_summary", {})
        catalog.save("backtest_lstm_interval_calibration", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic default data")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--param", action="append", default=[],
                        help="runtime parameter override, e.g. lstm_model.epochs=5")
    args = parser.parse_args()

    from rossmann_kedro.workspace import make_workspace, run_pipeline

    raw = [] if args.synthetic else [REAL / f for f in ("train.csv.gz", "store.csv.gz", "test.csv.gz")]
    if raw and not raw[0].is_file():
        raise SystemExit(f"real data not found in {REAL}; use --synthetic")
    ws = make_workspace(args.workspace or Path(f"/tmp/bench_lstm_{'syn' if args.synthetic else 'real'}"),
                        raw_files=raw)
    if not (ws / "data" / "03_primary" / "sales_with_store.parquet").is_file():
        t = time.perf_counter()
        run_pipeline(ws, "data_processing")
        print(f"data_processing: {time.perf_counter() - t:.1f} s")
    if not (ws / "data" / "04_feature" / "feature_context.pkl").is_file():
        t = time.perf_counter()
        run_pipeline(ws, "feature_engineering")  # the LSTM uses its contexts
        print(f"feature_engineering: {time.perf_counter() - t:.1f} s")

    if not (ws / "data" / "08_reporting" / "backtest_lstm_summary.json").exists():
        _stand_in_for_the_backtest(ws)

    t = time.perf_counter()
    run_pipeline(ws, "lstm_model", params=_param_overrides(args.param))
    total = time.perf_counter() - t
    metrics = json.loads(_latest(ws / "data" / "08_reporting" / "lstm_metrics.json").read_text())
    tr = metrics["training"]

    import pandas as pd

    t = time.perf_counter()
    with open(_latest(ws / "data" / "06_models" / "lstm_forecaster.pkl"), "rb") as fh:
        forecaster = pickle.load(fh)
    load_s = time.perf_counter() - t
    test = pd.read_parquet(ws / "data" / "02_intermediate" / "test_clean.parquet")
    test = test.loc[test["Store"].isin(forecaster.stores)]
    t = time.perf_counter()
    forecaster.predict(test)
    batch_s = time.perf_counter() - t
    row = test.iloc[[0]]
    forecaster.predict(row)
    lat = []
    for _ in range(500):
        t = time.perf_counter()
        forecaster.predict(row)
        lat.append(time.perf_counter() - t)
    lat_ms = np.percentile(lat, [50, 99]) * 1e3

    print(f"data: {'synthetic' if args.synthetic else 'real'} ({metrics['n']} validation days "
          f"with Sales > 0, {metrics['validation_start']}..{metrics['validation_end']})")
    sv = forecaster.training
    print(f"lstm_model pipeline wall time: {total:.1f} s")
    print(f"  validation-phase fit (history to {tr['fit_end']}): {tr['fit_seconds']:.1f} s, "
          f"{tr['epochs_trained']} epochs, best {tr['best_epoch']}, "
          f"{tr['n_train_windows']} windows / {tr['n_train_targets']} targets")
    print(f"  served fit (history to {sv['fit_end']}): {sv['fit_seconds']:.1f} s, "
          f"{sv['epochs_trained']} epochs, best {sv['best_epoch']}, "
          f"{sv['n_train_windows']} windows / {sv['n_train_targets']} targets")
    print(f"validation RMSPE {metrics['rmspe']:.4f}  RMSE {metrics['rmse']:.1f}  "
          f"MAE {metrics['mae']:.1f}")
    print(f"{100 * metrics['interval_level']:.0f}% interval coverage {metrics['coverage']:.3f} "
          f"(mean relative width {metrics['mean_relative_width']:.3f})")
    print("RMSPE by lead week: " + ", ".join(f"{k[5:]}:{v['rmspe']:.3f}"
                                            for k, v in metrics["by_lead_week"].items()))
    print(f"forecaster: load {load_s * 1e3:.1f} ms; predict whole test.csv ({len(test)} rows) "
          f"{batch_s * 1e3:.0f} ms; single row p50 {lat_ms[0]:.2f} ms, p99 {lat_ms[1]:.2f} ms")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
