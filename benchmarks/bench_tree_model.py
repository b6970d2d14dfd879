"""Train the tree_model pipeline (default config) on the real data and print its training time,
the validation RMSPE / RMSE / MAE of seasonal-naive, RandomForest and XGBoost, the loss
comparison, the interval coverage, and the served forecaster's predict latency.

Run: .venv/bin/python benchmarks/bench_tree_model.py [--data ../shared/data/rossmann] [--keep DIR]
Targets (issue 3): tree_model <= 5 min on 2 cores; XGBoost validation RMSPE <= 0.11.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from _common import parser_with_data, peak_rss_mib, real_raw_files

from rossmann_kedro.workspace import make_workspace, run_pipeline


def main() -> int:
    parser = parser_with_data(__doc__)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the workspace here and keep it (default: a temp dir)")
    args = parser.parse_args()
    raw = real_raw_files(args.data)
    if not raw:
        return 0
    import joblib
    import numpy as np
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace((args.keep or Path(tmp)) / "ws", raw_files=raw)
        run_pipeline(ws, "data_processing")
        run_pipeline(ws, "feature_engineering")
        start = time.perf_counter()
        run_pipeline(ws, "tree_model")
        seconds = time.perf_counter() - start
        report_dir = ws / "data/08_reporting/tree_model_metrics.json"
        latest = sorted(report_dir.iterdir())[-1]
        doc = json.loads((latest / "tree_model_metrics.json").read_text())
        model_dir = sorted((ws / "data/06_models/tree_forecaster.pkl").iterdir())[-1]
        t0 = time.perf_counter()
        forecaster = joblib.load(model_dir / "tree_forecaster.pkl")
        load_ms = (time.perf_counter() - t0) * 1000
        test = pd.read_parquet(ws / "data/02_intermediate/test_clean.parquet")
    peak_mib = peak_rss_mib()
    w = doc["validation_window"]
    print(f"tree_model on {args.data}: {seconds:.1f} s (target <= 300 s), peak RSS {peak_mib:.0f} MiB")
    print(f"validation {w['start']}..{w['end']} ({w['open_store_days']:,} open store-days):")
    print(f"  {'model':<16}{'RMSPE':>8}{'RMSE':>9}{'MAE':>9}{'fit s':>8}")
    for name, r in doc["models"].items():
        fit = f"{r['fit_seconds']:.0f}" if "fit_seconds" in r else "-"
        print(f"  {name:<16}{r['rmspe']:>8.4f}{r['rmse']:>9.1f}{r['mae']:>9.1f}{fit:>8}")
    lc = doc["loss_comparison"]
    if lc.get("enabled"):
        a, b = lc["squared_error_on_log1p_sales"], lc["squared_error_on_sales"]
        print(f"  loss comparison (cheap XGBoost): log1p target RMSPE {a['rmspe']:.4f} "
              f"RMSE {a['rmse']:.0f} | Sales target RMSPE {b['rmspe']:.4f} RMSE {b['rmse']:.0f}")
    iv = doc["intervals"]
    print(f"  chosen: {doc['chosen']}; {iv['level']:.0%} intervals: coverage {iv['coverage']:.3f} "
          f"(cross-fitted halves), mean width {iv['mean_relative_width']:.1%} of Sales")
    cols = ["Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday"]
    forecaster.predict(test[cols])  # warm-up
    t0 = time.perf_counter()
    forecaster.predict(test[cols])
    batch_ms = (time.perf_counter() - t0) * 1000
    row = test[cols].iloc[[100]]
    lat = []
    for _ in range(300):
        t0 = time.perf_counter()
        forecaster.predict(row)
        lat.append((time.perf_counter() - t0) * 1000)
    print(f"  forecaster: loaded in {load_ms:.0f} ms; predict {len(test):,} test rows in "
          f"{batch_ms:.0f} ms; one row "
          f"p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
