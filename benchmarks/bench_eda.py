"""Time the eda pipeline on the full real data (~0.97M train rows): seconds and peak memory.

data_processing runs first in a child process (not timed, not counted in memory), then the eda
pipeline runs here in a real Kedro session, `--repeat` times.

Run: .venv/bin/python benchmarks/bench_eda.py [--data ../shared/data/rossmann] [--repeat 2]
Target (issue 5): <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rossmann_kedro.workspace import make_workspace, run_pipeline

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rossmann"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with train/store/test .csv(.gz)")
    parser.add_argument("--repeat", type=int, default=1, help="eda runs to time (default 1)")
    args = parser.parse_args()
    raw = sorted(args.data.glob("*.csv*"))
    if not raw:
        print(f"skip: no real data in {args.data}")
        return 0
    import logging

    logging.disable(logging.INFO)
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
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"eda on {args.data}: {', '.join(f'{t:.1f}' for t in times)} s "
          f"(best {min(times):.1f} s), peak RSS {peak_mib:.0f} MiB, {n_files} output files "
          f"(target: <= 60 s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
