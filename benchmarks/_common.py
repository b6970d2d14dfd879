"""What every benchmark script shares: the `--data` option pointing at the real Kaggle files,
the clean skip when they are absent, and peak memory."""

from __future__ import annotations

import argparse
import logging
import resource
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rossmann"


def parser_with_data(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the script's docstring, with `--data`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with train/store/test .csv(.gz) (default: ../shared/data/rossmann)")
    return parser


def real_raw_files(data_dir: Path) -> list[Path]:
    """The raw files in `data_dir`, or [] after saying why the benchmark is skipped.

    Kedro's INFO logging is silenced too: benchmarks print figures, not the run log."""
    raw = sorted(Path(data_dir).glob("*.csv*"))
    if not raw:
        print(f"skip: no real data in {data_dir}")
    logging.disable(logging.INFO)
    return raw


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
