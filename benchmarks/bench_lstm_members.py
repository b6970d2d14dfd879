"""Time the LSTM's two member networks trained one after the other in this process
(`lstm_model.member_processes: 1`) against side by side in two processes (the default, 2), in one
run on the same data: first in new processes, then again in the processes kept from that fit
(as the backtest's later folds are). Check that all three give the same networks to the bit.

    python benchmarks/bench_lstm_members.py                   # real data, all stores
    python benchmarks/bench_lstm_members.py --max-stores 300  # a seeded sample (quicker)
    python benchmarks/bench_lstm_members.py --synthetic       # the 60-store synthetic default

Fits the validation-phase network of lstm_model (feature_engineering's validation context) in a
throwaway workspace, never in the repo's data/.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import parser_with_data, peak_rss_mib, real_raw_files


def main() -> int:
    parser = parser_with_data(__doc__)
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic default data")
    parser.add_argument("--max-stores", type=int, default=None, help="seeded store sample")
    args = parser.parse_args()
    raw = [] if args.synthetic else real_raw_files(args.data)
    if not args.synthetic and not raw:
        print("(or use --synthetic)")
        return 0
    import logging

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from rossmann_kedro.models.lstm import train_network
    from rossmann_kedro.models.member_processes import close_member_pool
    from rossmann_kedro.pipelines.lstm_model.nodes import select_stores
    from rossmann_kedro.workspace import make_workspace, run_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", raw_files=raw)
        run_pipeline(ws, "data_processing")
        run_pipeline(ws, "feature_engineering")
        bootstrap_project(ws)
        with contextlib.chdir(ws), KedroSession.create(project_path=ws) as session:
            context = session.load_context()
            catalog, params = context.catalog, dict(context.params["lstm_model"])
            if args.max_stores:
                params["max_stores"] = args.max_stores
            sales = select_stores(catalog.load("sales_with_store"), params)
            feature_context = catalog.load("feature_context_validation")
        logging.disable(logging.INFO)
        close_member_pool()   # the first side-by-side fit starts its processes
        models, seconds = {}, {}
        for run, processes in (("in_process", 1), ("new", 2), ("kept", 2)):
            t0 = time.perf_counter()
            models[run] = train_network(sales, feature_context, params,
                                        member_processes=processes)
            seconds[run] = time.perf_counter() - t0
        close_member_pool()
    same = all(np.array_equal(a, b)
               for other in ("new", "kept")
               for m1, m2 in zip(models["in_process"].members, models[other].members, strict=True)
               for a, b in zip(m1.weights, m2.weights, strict=True))
    tr = models["new"].training
    print(f"data: {'synthetic' if args.synthetic else 'real'}, {sales['Store'].nunique()} stores, "
          f"{tr['n_train_windows']} training windows per network, "
          f"{params['ensemble_members']} networks, epochs {tr['epochs_trained']}")
    first = seconds["in_process"]
    print(f"train_network, one after the other (member_processes=1): {first:.1f} s")
    print(f"train_network, side by side        (member_processes=2): {seconds['new']:.1f} s "
          f"({seconds['new'] / first:.2f} of the first), new processes")
    print(f"train_network, side by side again  (member_processes=2): {seconds['kept']:.1f} s "
          f"({seconds['kept'] / first:.2f} of the first), the processes kept from that fit")
    print(f"same networks to the bit: {same}; peak RSS of this process {peak_rss_mib():.0f} MiB")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
