"""Time the eda pipeline on the full real data (~0.97M train rows): seconds and peak memory.

data_processing runs first in a child process (not timed, not counted in memory), then the eda
pipeline runs here in a real Kedro session, `--repeat` times.

Run: .venv/bin/python benchmarks/bench_eda.py [--data ../shared/data/rossmann] [--repeat 2]
Target (issue 5): <= 60 s on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import parser_with_data, peak_rss_mib, real_raw_files

from rossmann_kedro.workspace import make_workspace, run_pipeline


def main() -> int:
    parser = parser_with_data(__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="eda runs to time (default 1)")
    args = parser.parse_args()
    raw = real_raw_files(args.data)
    if not raw:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", raw_files=raw)
        subprocess.run(
            [sys.executable, "-c", "import logging, sys; logging.disable(logging.INFO); "
             "from rossmann_kedro.workspace import run_pipeline; "
             "run_pipeline(sys.argv[1], 'data_processing')", str(ws)],
            check=True, stdout=subprocess.DEVNULL,
        )
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            run_pipeline(ws, "eda")
            times.append(time.perf_counter() - start)
        n_files = sum(1 for _ in (ws / "data" / "08_reporting" / "eda").glob("*"))
    peak_mib = peak_rss_mib()
    print(f"eda on {args.data}: {', '.join(f'{t:.1f}' for t in times)} s "
          f"(best {min(times):.1f} s), peak RSS {peak_mib:.0f} MiB, {n_files} output files "
          f"(target: <= 60 s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
