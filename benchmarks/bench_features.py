"""Time the feature_engineering pipeline on the real train (~0.97M rows), and single-row
feature building (what a gRPC request pays).

Run: .venv/bin/python benchmarks/bench_features.py [--data ../shared/data/rossmann]
Target (issue 3): feature_engineering <= 15 s on 2 cores.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import parser_with_data, peak_rss_mib, real_raw_files

from rossmann_kedro.workspace import make_workspace, run_pipeline


def main() -> int:
    parser = parser_with_data(__doc__)
    args = parser.parse_args()
    raw = real_raw_files(args.data)
    if not raw:
        return 0
    import joblib
    import pandas as pd

    from rossmann_kedro.features import build_features

    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", raw_files=raw)
        run_pipeline(ws, "data_processing")
        start = time.perf_counter()
        run_pipeline(ws, "feature_engineering")
        seconds = time.perf_counter() - start
        sales = pd.read_parquet(ws / "data/03_primary/sales_with_store.parquet")
        test = pd.read_parquet(ws / "data/02_intermediate/test_clean.parquet")
        ctx = joblib.load(ws / "data/04_feature/feature_context.pkl")
    t0 = time.perf_counter()
    X = build_features(sales, ctx)
    batch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_features(test, ctx)
    test_s = time.perf_counter() - t0
    row = test.iloc[[100]]
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        build_features(row, ctx)
    single_ms = (time.perf_counter() - t0) / n * 1000
    peak_mib = peak_rss_mib()
    print(f"feature_engineering pipeline on {args.data}: {seconds:.1f} s (target <= 15 s), "
          f"peak RSS {peak_mib:.0f} MiB")
    print(f"build_features: {len(sales):,} train rows x {X.shape[1]} features in {batch_s:.2f} s; "
          f"{len(test):,} test rows in {test_s * 1000:.0f} ms; one row {single_ms:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
