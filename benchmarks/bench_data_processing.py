"""Time the data_processing pipeline on the real train (~0.97M rows): seconds and peak memory.

Run: .venv/bin/python benchmarks/bench_data_processing.py [--data ../shared/data/rossmann]
Targets (issue 2): <= 10 s and <= 2 GB peak RSS on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from rossmann_kedro.workspace import make_workspace, run_pipeline

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rossmann"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train/store/test .csv(.gz)")
    args = parser.parse_args()
    raw = sorted(args.data.glob("*.csv*"))
    if not raw:
        print(f"skip: no real data in {args.data}")
        return 0
    import logging

    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", raw_files=raw)
        start = time.perf_counter()
        run_pipeline(ws, "data_processing")
        seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"data_processing on {args.data}: {seconds:.1f} s, peak RSS {peak_mib:.0f} MiB "
          f"(targets: <= 10 s, <= 2048 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
