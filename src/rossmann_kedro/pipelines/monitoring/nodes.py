"""Monitoring of what the server answered (the prediction log) against the training data and,
once they arrive, the actual sales.

- Input drift: per request feature (promo share, open share, state and school holiday mix,
  weekday mix, store mix, days ahead of the model's training end), the served rows vs the
  training rows: PSI plus a chi-square test (categories) or a two-sample KS test (days ahead).
  A feature is "drifted" when PSI exceeds its threshold AND the test rejects at `p_value`: with
  thousands of rows a test alone flags trivial differences, a PSI alone flags noise on few rows.
- Served accuracy: the served predictions joined with actual sales (Store, Date) from a newer
  train.csv: RMSPE and interval coverage per week, per model version and per store.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

from .config import AccuracyConfig, DriftConfig

logger = logging.getLogger(__name__)

DRIFT_COLUMNS = ["feature", "test", "statistic", "p_value", "psi", "served_rows",
                 "reference_rows", "served", "reference", "status"]
ACCURACY_COLUMNS = ["n", "rmspe", "coverage", "median_ratio"]
_EPS = 1e-4
_DAYS_AHEAD_EDGES = [-np.inf, 0, 7, 14, 21, 28, 35, 42, 56, 91, np.inf]


def _since(log: pd.DataFrame, since: str | None) -> pd.DataFrame:
    if not since:
        return log
    return log.loc[log["request_time"] >= pd.Timestamp(since, tz="UTC")]


def psi(served: np.ndarray, reference: np.ndarray) -> float:
    """Population stability index of two count (or share) vectors over the same bins."""
    p = np.asarray(served, dtype=float)
    q = np.asarray(reference, dtype=float)
    p = np.clip(p / max(p.sum(), 1e-12), _EPS, None)
    q = np.clip(q / max(q.sum(), 1e-12), _EPS, None)
    return float(np.sum((p - q) * np.log(p / q)))


def _categorical(name: str, served: pd.Series, reference: pd.Series,
                 describe) -> dict[str, Any]:
    cats = sorted(set(served.astype(str)) | set(reference.astype(str)))
    s = served.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
    r = reference.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
    keep = (s + r) > 0
    table = np.vstack([s[keep], r[keep]])
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        chi2, p = 0.0, 1.0
    else:
        chi2, p, _, _ = stats.chi2_contingency(table)
    return {"feature": name, "test": "chi2", "statistic": float(chi2), "p_value": float(p),
            "psi": psi(s, r), "served": describe(served), "reference": describe(reference)}


def _share_of(value: str):
    return lambda x: f"{(x.astype(str) == value).mean():.3f}" if len(x) else ""


def _not_zero_share(x: pd.Series) -> str:
    return f"{(x.astype(str) != '0').mean():.3f}" if len(x) else ""


def _mix(x: pd.Series) -> str:
    if not len(x):
        return ""
    shares = x.astype(str).value_counts(normalize=True).sort_index()
    return " ".join(f"{k}:{v:.2f}" for k, v in shares.items())


def _store_mix(x: pd.Series) -> str:
    if not len(x):
        return ""
    top = x.value_counts(normalize=True)
    return f"{x.nunique()} stores, top {top.index[0]} {top.iloc[0]:.3f}"


def _days_ahead(log: pd.DataFrame) -> pd.Series:
    end = pd.to_datetime(log["train_end"], errors="coerce")
    return (log["Date"] - end).dt.days


def input_drift(prediction_log: pd.DataFrame, sales: pd.DataFrame,
                params: DriftConfig) -> tuple[pd.DataFrame, dict[str, Any], go.Figure]:
    """Drift of each request feature: served rows vs training rows (table, summary, plot)."""
    log = _since(prediction_log, params["since"])
    n = len(log)
    if n:
        end = pd.to_datetime(log["train_end"], errors="coerce").max()
    else:
        end = pd.to_datetime(sales["Date"]).max()
    start = end - pd.Timedelta(weeks=int(params["reference_weeks"]))
    dates = pd.to_datetime(sales["Date"])
    ref = sales.loc[(dates > start) & (dates <= end)]
    logger.info("Input drift: %d served rows vs %d training rows %s..%s", n, len(ref),
                start.date(), end.date())
    rows = [
        _categorical("promo share", log["Promo"], ref["Promo"], _share_of("1")),
        _categorical("open share", log["Open"], ref["Open"], _share_of("1")),
        _categorical("state holiday mix", log["StateHoliday"], ref["StateHoliday"],
                     _not_zero_share),
        _categorical("school holiday share", log["SchoolHoliday"], ref["SchoolHoliday"],
                     _share_of("1")),
        _categorical("weekday mix", log["DayOfWeek"], ref["DayOfWeek"], _mix),
        _categorical("store mix", log["Store"], ref["Store"], _store_mix),
    ]
    # days ahead of the training end: the models were validated on 1..horizon_days
    horizon = int(params["horizon_days"])
    served_ahead = _days_ahead(log).dropna().to_numpy()
    ref_ahead = np.arange(1, horizon + 1)
    if len(served_ahead):
        ks = stats.ks_2samp(served_ahead, ref_ahead)
        stat, p = float(ks.statistic), float(ks.pvalue)
    else:
        stat, p = 0.0, 1.0
    rows.append({
        "feature": "days ahead of training end", "test": "ks", "statistic": stat, "p_value": p,
        "psi": psi(np.histogram(served_ahead, _DAYS_AHEAD_EDGES)[0],
                   np.histogram(ref_ahead, _DAYS_AHEAD_EDGES)[0]),
        "served": (f"median {np.median(served_ahead):.0f}, {np.mean(served_ahead > horizon):.3f}"
                   f" beyond {horizon}") if len(served_ahead) else "",
        "reference": f"uniform 1..{horizon}",
    })
    table = pd.DataFrame(rows)
    table["served_rows"] = n
    table["reference_rows"] = len(ref)
    table.loc[table["feature"] == "days ahead of training end", "reference_rows"] = horizon
    drifted = (table["psi"] > float(params["psi_threshold"])) & (
        table["p_value"] < float(params["p_value"]))
    table["status"] = np.where(drifted, "drifted", "ok")
    if n < int(params["min_rows"]):
        table["status"] = "too few rows"
    table = table[DRIFT_COLUMNS]
    summary = {
        "served_rows": n,
        "reference": {"from": str(start.date()), "to": str(end.date()), "rows": len(ref)},
        "thresholds": {"psi": float(params["psi_threshold"]), "p_value": float(params["p_value"]),
                       "min_rows": int(params["min_rows"])},
        "drifted": table.loc[table["status"] == "drifted", "feature"].tolist(),
        "features": {r.feature: {"status": r.status, "psi": round(r.psi, 4),
                                 "p_value": float(r.p_value), "served": r.served,
                                 "reference": r.reference}
                     for r in table.itertuples()},
    }
    for r in table.itertuples():
        logger.info("drift %-28s %-12s PSI %.3f p %.2g (%s vs %s)", r.feature, r.status, r.psi,
                    r.p_value, r.served, r.reference)
    return table, summary, _drift_plot(table, float(params["psi_threshold"]))


def _drift_plot(table: pd.DataFrame, threshold: float) -> go.Figure:
    colours = {"drifted": "#d62728", "ok": "#2ca02c", "too few rows": "#999999"}
    fig = go.Figure(go.Bar(
        x=table["feature"], y=table["psi"], marker_color=[colours[s] for s in table["status"]],
        text=table["status"], hovertext=[f"served {s}<br>training {r}<br>p = {p:.2g}"
                                         for s, r, p in zip(table["served"], table["reference"],
                                                            table["p_value"], strict=True)]))
    fig.add_hline(y=threshold, line_dash="dash", annotation_text=f"PSI threshold {threshold}")
    fig.update_layout(title="Input drift of served requests vs training data (PSI)",
                      yaxis_title="PSI", template="plotly_white")
    return fig


def _rmspe_coverage(df: pd.DataFrame) -> pd.Series:
    ratio = df["Sales"] / df["actual"]
    return pd.Series({
        "n": len(df),
        "rmspe": float(np.sqrt(np.mean((1 - ratio) ** 2))) if len(df) else np.nan,
        "coverage": float(((df["lower"] <= df["actual"]) & (df["actual"] <= df["upper"])).mean())
        if len(df) else np.nan,
        "median_ratio": float(ratio.median()) if len(df) else np.nan,
    })


def _grouped(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=keys + ACCURACY_COLUMNS)
    out = df.groupby(keys, sort=True)[["Sales", "actual", "lower", "upper"]].apply(
        _rmspe_coverage).reset_index()
    out["n"] = out["n"].astype(int)
    return out[keys + ACCURACY_COLUMNS]


def served_accuracy(prediction_log: pd.DataFrame, sales: pd.DataFrame, params: AccuracyConfig,
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any],
                               go.Figure]:
    """RMSPE and interval coverage of served predictions on days whose sales are now known
    (open days with Sales > 0, as the validation RMSPE): by week, model version and store."""
    log = _since(prediction_log, params["since"])
    actual = sales[["Store", "Date", "Sales"]].rename(columns={"Sales": "actual"})
    actual = actual.assign(Date=pd.to_datetime(actual["Date"]))
    joined = log.merge(actual, on=["Store", "Date"], how="inner")
    scored = joined.loc[joined["actual"] > 0].copy()
    scored["week"] = (scored["Date"] - pd.to_timedelta(scored["Date"].dt.weekday, unit="D")
                      ).dt.strftime("%Y-%m-%d")
    by_week = _grouped(scored, ["week", "model", "version"])
    by_version = _grouped(scored, ["model", "version"])
    by_store = _grouped(scored, ["model", "Store"]).sort_values(["model", "rmspe"],
                                                                ascending=[True, False])
    newest_actual = pd.to_datetime(sales["Date"]).max()
    summary: dict[str, Any] = {
        "logged_rows": len(log), "rows_with_actuals": len(joined), "scored_rows": len(scored),
        "newest_actual_day": str(newest_actual.date()) if pd.notna(newest_actual) else "",
        "served_days": ([str(log["Date"].min().date()), str(log["Date"].max().date())]
                        if len(log) else []),
        "by_version": by_version.to_dict(orient="records"),
        "worst_stores": by_store.groupby("model").head(int(params["worst_stores"]))
        .to_dict(orient="records"),
    }
    if scored.empty:
        summary["message"] = ("no actual sales yet for the served days: put a newer train.csv "
                              "into data/01_raw and run data_processing")
    logger.info("Served accuracy: %d logged rows, %d with actual sales; by version: %s",
                len(log), len(scored), summary["by_version"])
    return by_week, by_version, by_store, summary, _accuracy_plot(by_week)


def _accuracy_plot(by_week: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("RMSPE of served forecasts", "interval coverage"))
    for (model, version), part in by_week.groupby(["model", "version"], sort=True):
        name = f"{model} {version}"
        fig.add_trace(go.Scatter(x=part["week"], y=part["rmspe"], name=name, mode="lines+markers",
                                 legendgroup=name), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["week"], y=part["coverage"], name=name, showlegend=False,
                                 mode="lines+markers", legendgroup=name), row=2, col=1)
    fig.update_layout(title="Served accuracy by forecast week", template="plotly_white")
    fig.update_yaxes(title_text="RMSPE", row=1, col=1)
    fig.update_yaxes(title_text="share inside [lower, upper]", range=[0, 1], row=2, col=1)
    return fig
