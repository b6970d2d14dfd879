"""Time the data_processing pipeline on the real train (~0.97M rows): seconds and peak memory.

Run: .venv/bin/python benchmarks/bench_data_processing.py [--data ../shared/data/rossmann]
Targets (issue 2): <= 10 s and <= 2 GB peak RSS on 2 cores.
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
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", raw_files=raw)
        start = time.perf_counter()
        run_pipeline(ws, "data_processing")
        seconds = time.perf_counter() - start
    peak_mib = peak_rss_mib()
    print(f"data_processing on {args.data}: {seconds:.1f} s, peak RSS {peak_mib:.0f} MiB "
          f"(targets: <= 10 s, <= 2048 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
