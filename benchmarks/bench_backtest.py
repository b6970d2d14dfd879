"""Run the backtest and tree_model pipelines (default config) on the real data and print their
time and peak memory, per model the mean and per-fold RMSPE, the interval coverage and width by
horizon week of the served tree and of the LSTM's own bands, and the served forecaster's
predict latency.

Run: .venv/bin/python benchmarks/bench_backtest.py [--data ../shared/data/rossmann] [--keep DIR]
     [--max-stores N] [--folds N] [--models seasonal_naive,xgboost,...]
Targets (issue 9): backtest <= 20 min and tree_model <= 5 min on 2 cores; served model's mean
RMSPE over folds <= 0.100 and below the previous configuration (xgboost_v1) on every fold;
LSTM <= 0.125; 80 % coverage 0.78..0.82 and 95 % coverage 0.93..0.97 in every horizon week.
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
    parser.add_argument("--max-stores", type=int, default=None,
                        help="backtest a seeded sample of stores (cheaper)")
    parser.add_argument("--folds", type=int, default=None, help="number of folds")
    parser.add_argument("--models", default=None, help="comma-separated models to backtest")
    args = parser.parse_args()
    raw = real_raw_files(args.data)
    if not raw:
        return 0
    import joblib
    import numpy as np
    import pandas as pd

    overrides: dict = {}
    if args.max_stores:
        overrides["max_stores"] = args.max_stores
    if args.folds:
        overrides["n_folds"] = args.folds
    if args.models:
        overrides["models"] = args.models.split(",")
    params = {"backtest": overrides} if overrides else None
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace((args.keep or Path(tmp)) / "ws", raw_files=raw)
        run_pipeline(ws, "data_processing")
        t0 = time.perf_counter()
        run_pipeline(ws, "feature_engineering")
        fe_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_pipeline(ws, "backtest", params=params)
        bt_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_pipeline(ws, "tree_model", params=params)
        tree_seconds = time.perf_counter() - t0
        rep = ws / "data/08_reporting"
        sel = json.loads((rep / "backtest_selection.json").read_text())
        cov = pd.read_csv(rep / "backtest_coverage.csv", dtype={"fold": str})
        worst = pd.read_csv(rep / "backtest_worst_stores.csv")
        lstm_dir = rep / "backtest_lstm_summary.json"
        lstm = (json.loads(next(lstm_dir.glob("*/backtest_lstm_summary.json")).read_text())
                if lstm_dir.is_dir() else {})
        model_dir = sorted((ws / "data/06_models/tree_forecaster.pkl").iterdir())[-1]
        forecaster = joblib.load(model_dir / "tree_forecaster.pkl")
        test = pd.read_parquet(ws / "data/02_intermediate/test_clean.parquet")
    print(f"real data {args.data}: feature_engineering {fe_seconds:.0f} s, backtest "
          f"{bt_seconds:.0f} s (target <= 1200 s), tree_model {tree_seconds:.0f} s (target <= "
          f"300 s); peak RSS {peak_rss_mib():.0f} MiB")
    print(f"folds (first forecast day): {', '.join(sel['folds'])}; 42 days each")
    print(f"  {'model':<16}{'mean RMSPE':>11}{'std':>8}   per fold")
    for name, s in sorted(sel["scores"].items(), key=lambda kv: kv[1]["mean_rmspe"]):
        folds = " ".join(f"{v:.4f}" for v in s["fold_rmspe"])
        print(f"  {name:<16}{s['mean_rmspe']:>11.4f}{s['std_rmspe']:>8.4f}   {folds}")
    s = sel["served"]
    print(f"  {'served':<16}{s['mean_rmspe']:>11.4f}{s['std_rmspe']:>8.4f}   "
          f"{' '.join(f'{v:.4f}' for v in s['fold_rmspe'])}   = {sel['chosen']} "
          f"+ event gaps {sel.get('event_weights', {})} x {sel['bias']['factor']:.3f} (bias "
          f"correction {'applied' if sel['bias']['applied'] else 'not applied'})")
    if "lstm_served" in sel:
        s = sel["lstm_served"]
        print(f"  {'lstm_served':<16}{s['mean_rmspe']:>11.4f}{s['std_rmspe']:>8.4f}   "
              f"{' '.join(f'{v:.4f}' for v in s['fold_rmspe'])}   = lstm + event gaps "
              f"{sel['lstm_events']['weights']} x {sel['lstm_bias']['factor']:.3f} (bias "
              f"correction {'applied' if sel['lstm_bias']['applied'] else 'not applied'})")
    if "beats_reference_every_fold" in sel:
        print(f"  beats {sel['reference_model']} on every fold: "
              f"{sel['beats_reference_every_fold']}")
    mean = cov.loc[cov["fold"] == "mean"].sort_values(["level", "week"])
    for level, g in mean.groupby("level"):
        weeks = g.loc[g["week"] > 0]
        overall = g.loc[g["week"] == 0].iloc[0]
        print(f"  {level:.0%} intervals (each fold calibrated on the others): coverage "
              f"{overall['coverage']:.3f}, mean width {overall['mean_relative_width']:.1%} of "
              f"Sales; by week " + " ".join(f"{c:.3f}" for c in weeks["coverage"]))
    bands = [(f"{level}% intervals (as the tree's)", band)
             for level, band in (lstm.get("intervals") or {}).items()]
    if "own_bands" in lstm:
        own = lstm["own_bands"]
        bands.append((f"{100 * own['level']:.0f}% own bands (calibrated inside each fold, not "
                      f"served)", own))
    for label, band in bands:
        print(f"  LSTM {label}: coverage {band['coverage']:.3f}, mean width "
              f"{band['mean_relative_width']:.1%} of Sales; by week "
              + " ".join(f"{c:.3f}" for c in band["coverage_by_week"])
              + "; by fold " + " ".join(f"{c:.3f}" for c in band["coverage_by_fold"]))
    top = worst.loc[worst["rank"] <= 3]
    print("  largest squared-error shares per fold: " + "; ".join(
        f"fold {f}: " + ", ".join(f"store {r.Store} {r.share_of_squared_error:.1%}"
                                  for r in g.itertuples()) for f, g in top.groupby("fold")))
    lead = worst.loc[worst["rank"] == 1]
    print("  each fold's worst store's worst day: " + "; ".join(
        f"fold {r.fold}: store {r.Store} on {r.worst_date}, Sales {r.worst_day_sales} against "
        f"{r.worst_day_forecast:.0f} forecast, {r.worst_day_share:.0%} of the store's error"
        for r in lead.itertuples()))
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
    print(f"  served forecaster ({len(forecaster.members)} member(s)): predict {len(test):,} test "
          f"rows in {batch_ms:.0f} ms; one row p50 {np.percentile(lat, 50):.2f} ms, "
          f"p99 {np.percentile(lat, 99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
