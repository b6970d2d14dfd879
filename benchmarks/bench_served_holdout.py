"""Score the served models as an outside evaluator does, on weeks the models never saw: cut the
last `--holdout-days` (42) days off the real train, train and backtest on the rest as `kedro run`
does, serve the models from real gRPC server and REST gateway processes, POST the held-back
store-days (without Sales and Customers) to `/predict`, and score the answers against the true
sales.

It prints, per served model, RMSPE over the held-back store-days with Sales > 0 and the share of
them inside the served 80 % band, per horizon week and overall, next to what that model's own
backtest promised (mean RMSPE over its folds, coverage). With the default 42 days the held-back
window is the default backtest's last fold (2015-05-09..06-19), so the REST figure can also be
set against that fold's row in the README's results table: the served tree's equals it (its
models are the fold's); the served LSTM's differs by its networks' draw (`lstm_model` refits).

The backtest runs only the models the served ones are built from (`xgboost_v1` and `xgboost`
for `tree`, and `lstm` for `lstm`); `kedro run` also backtests seasonal-naive and RandomForest,
which the served models do not use unless they win. Trees: ~6 min on 2 cores; with the LSTM
~30 min.

Run: .venv/bin/python benchmarks/bench_served_holdout.py [--data ../shared/data/rossmann]
     [--models tree,lstm] [--holdout-days 42] [--keep DIR]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import parser_with_data, peak_rss_mib, real_raw_files

from rossmann_kedro.models.metrics import seasonal_naive

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.serving.processes
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
from bench_serving import rest_bodies

from tests.serving import processes as procs

#: The models each served model is built from: what its backtest has to fit.
BACKTESTED = {"tree": ["xgboost_v1", "xgboost"], "lstm": ["lstm"]}
#: Rows per REST call (the gateway refuses bodies over 16 MB; ~120 bytes a row).
CHUNK = 5_000


def split_train(train: pd.DataFrame, holdout_days: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train before the cut, the last `holdout_days` days, the cut date): the evaluator's set-up
    on data whose answers we have."""
    dates = pd.to_datetime(train["Date"])
    cut = dates.max() - pd.Timedelta(days=holdout_days)
    return train[dates <= cut], train[dates > cut], str(cut.date())


def score(held_out: pd.DataFrame, served: pd.DataFrame, cut: str) -> pd.DataFrame:
    """RMSPE and 80 % band coverage of `served` (Id, Sales, lower, upper) against `held_out`
    (Id, Date, Sales), over store-days with Sales > 0, per horizon week (1 = the first 7 days
    after `cut`) and overall ("all")."""
    rows = held_out[["Id", "Date", "Sales"]].merge(
        served[["Id", "Sales", "lower", "upper"]].rename(columns={"Sales": "forecast"}),
        on="Id", how="left", validate="one_to_one")
    if rows["forecast"].isna().any():
        raise ValueError(f"{int(rows['forecast'].isna().sum())} held-back rows got no forecast")
    rows = rows[rows["Sales"] > 0]
    days = (pd.to_datetime(rows["Date"]) - pd.Timestamp(cut)).dt.days
    rows = rows.assign(week=((days - 1) // 7 + 1).astype(str),
                       pe2=((rows["Sales"] - rows["forecast"]) / rows["Sales"]) ** 2,
                       inside=rows["Sales"].between(rows["lower"], rows["upper"])
                       .where(rows["lower"].notna()),
                       width=(rows["upper"] - rows["lower"]) / rows["Sales"])

    def summary(g: pd.DataFrame) -> pd.Series:
        return pd.Series({"rmspe": float(np.sqrt(g["pe2"].mean())), "coverage": g["inside"].mean(),
                          "mean_relative_width": g["width"].mean(), "n": len(g)})

    by_week = rows.groupby("week")[["pe2", "inside", "width"]].apply(summary)
    overall = summary(rows).to_frame("all").T
    return pd.concat([overall, by_week]).rename_axis("horizon_week")


def typed(rows: pd.DataFrame) -> pd.DataFrame:
    """Train rows read as text, with the numeric columns the seasonal-naive reference reads."""
    return rows.astype({"Store": int, "DayOfWeek": int, "Open": int, "Sales": float})


def backtest_promise(reporting: Path, models: list[str]) -> dict[str, dict]:
    """What each served model's backtest said: its RMSPE per fold and mean, and its 80 % band
    coverage (each fold calibrated on the others, all weeks)."""
    selection = json.loads((reporting / "backtest_selection.json").read_text())
    out = {}
    for model in models:
        scores = selection["served" if model == "tree" else "lstm_served"]
        coverage = pd.read_csv(reporting / ("backtest_coverage.csv" if model == "tree"
                                            else "backtest_lstm_coverage.csv"))
        overall = coverage[(coverage["level"] == 0.8) & (coverage["week"] == 0)]
        out[model] = {"folds": selection["folds"], "mean_rmspe": scores["mean_rmspe"],
                      "fold_rmspe": scores["fold_rmspe"],
                      "coverage": float(np.average(overall["coverage"], weights=overall["n"]))}
    return out


def post_all(url: str, model: str, instances: list[dict]) -> pd.DataFrame:
    """Every instance (`bench_serving.rest_bodies`: test.csv's columns and an Id, as a caller
    sends them) through `POST /predict`, CHUNK a call; the answers as a frame."""
    import httpx

    out = []
    with httpx.Client(timeout=120) as client:
        for start in range(0, len(instances), CHUNK):
            resp = client.post(f"{url}/predict", json={
                "model": model, "instances": instances[start:start + CHUNK]})
            resp.raise_for_status()
            out.extend(resp.json()["predictions"])
    return pd.DataFrame(out)


def main() -> int:
    parser = parser_with_data(__doc__)
    parser.add_argument("--models", default="tree", help="served models to score: tree,lstm")
    parser.add_argument("--holdout-days", type=int, default=42, help="days held back (default 42)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the workspace here and keep it (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    raw = real_raw_files(args.data)
    if not raw:
        return 0
    models = args.models.split(",")
    unknown = sorted(set(models) - set(BACKTESTED))
    if unknown:
        parser.error(f"unknown model(s) {unknown}: choose from {sorted(BACKTESTED)}")
    from rossmann_kedro.workspace import make_workspace, run_pipeline

    train_file = next(p for p in raw if p.name.startswith("train."))
    train = pd.read_csv(train_file, dtype=str, keep_default_na=False)
    before, held_out, cut = split_train(train, args.holdout_days)
    held_out = held_out.assign(Id=np.arange(1, len(held_out) + 1),
                               Sales=held_out["Sales"].astype(float))
    print(f"data {args.data}: train cut at {cut}; {len(held_out):,} store-days held back "
          f"({held_out['Date'].min()}..{held_out['Date'].max()}); serving {models}", flush=True)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        ws = make_workspace(root / "ws", raw_files=[p for p in raw if p != train_file])
        before.to_csv(ws / "data" / "01_raw" / "train.csv.gz", index=False)
        backtested = [m for model in models for m in BACKTESTED[model]]
        steps = [("data_processing", None), ("feature_engineering", None),
                 ("backtest", {"backtest": {"models": backtested}}),
                 *[(f"{model}_model", None) for model in ("tree", "lstm") if model in models]]
        for name, params in steps:
            t0 = time.perf_counter()
            run_pipeline(ws, name, params=params)
            timings[name] = time.perf_counter() - t0
            print(f"  {name}: {timings[name]:.0f} s", flush=True)
        promised = backtest_promise(ws / "data" / "08_reporting", models)
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        requests = rest_bodies(held_out, "", single=False)   # JSON types from the text columns
        results = {}
        with procs.server_and_gateway(ws, logs) as live:
            for model in models:
                t0 = time.perf_counter()
                answers = post_all(live["http"], model, requests)
                timings[f"REST {model}"] = time.perf_counter() - t0
                if not np.isfinite(answers[["Sales", "lower", "upper"]].to_numpy()).all():
                    raise SystemExit(f"{model}: the gateway answered a non-finite value")
                results[model] = score(held_out, answers, cut)
        naive = held_out.assign(Sales=seasonal_naive(typed(before), typed(held_out)),
                                lower=np.nan, upper=np.nan)
        results["seasonal_naive"] = score(held_out, naive, cut)
        # The watch loop a user runs once the actual sales arrive: the full train in 01_raw,
        # data_processing, monitoring. It reads the server's prediction log, not our answers.
        (ws / "data" / "01_raw" / "train.csv.gz").unlink()
        (ws / "data" / "01_raw" / "train.csv.gz").symlink_to(train_file.resolve())
        for name in ("data_processing", "monitoring"):
            run_pipeline(ws, name)
        watched = json.loads((ws / "data/08_reporting/monitoring/accuracy.json").read_text())
    print(f"\nserved through REST ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}; "
          f"peak RSS {peak_rss_mib():.0f} MiB)")
    report: dict = {"cut": cut, "holdout_days": args.holdout_days, "seconds": timings,
                    "models": {}}
    for model, table in results.items():
        print(f"\n[{model}] held-back {cut} +1..+{args.holdout_days} days, store-days with Sales > 0")
        print(table.to_string(float_format=lambda x: f"{x:.4f}",
                              formatters={"n": lambda x: f"{int(x):,}"}))
        report["models"][model] = {"rest": table.reset_index().to_dict(orient="records")}
        if model not in promised:   # the reference: no band, no backtest, not served
            continue
        report["models"][model]["monitoring"] = [v for v in watched["by_version"]
                                                 if v["model"] == model]
        report["models"][model]["backtest"] = promised[model]
        for version in (v for v in watched["by_version"] if v["model"] == model):
            print(f"  monitoring pipeline, from the prediction log: RMSPE {version['rmspe']:.4f}, "
                  f"coverage {version['coverage']:.4f} over {int(version['n']):,} store-days "
                  f"(version {version['version']})")
        figures = promised[model]
        print(f"  its backtest (folds {', '.join(figures['folds'])}): RMSPE mean "
              f"{figures['mean_rmspe']:.4f}, per fold "
              f"{' '.join(f'{x:.4f}' for x in figures['fold_rmspe'])}; 80 % coverage "
              f"{figures['coverage']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
