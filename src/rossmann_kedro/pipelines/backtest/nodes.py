"""Nodes of the backtest pipeline: rolling-origin evaluation of every model.

Folds are the last `n_folds` origins of the origin frame (six weeks apart, the last one ending
at the end of the data). In each fold every model is fitted on rows before the origin only and
forecasts the next six weeks from what a server would have known at the origin. The mean over
folds decides which tree candidate or ensemble is served, whether the store event gaps and a bias
correction are added to the forecasts, and calibrates the served prediction intervals per
horizon week.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from rossmann_kedro.features import build_features
from rossmann_kedro.features.origins import fit_origin_context, origin_store_sample, sample_stores
from rossmann_kedro.models import metrics as mx
from rossmann_kedro.models.candidates import (
    CandidateSpec,
    candidate_specs,
    ensemble_specs,
    origin_training_rows,
    recency_weights,
    trainable_rows,
)
from rossmann_kedro.models.events import EVENT_EFFECTS, event_shift
from rossmann_kedro.models.intervals import HorizonConformalInterval, adjusted_band_levels
from rossmann_kedro.pipelines.backtest.config import BacktestConfig
from rossmann_kedro.pipelines.feature_engineering.config import FeatureEngineeringConfig
from rossmann_kedro.pipelines.lstm_model.config import LSTMModelConfig
from rossmann_kedro.pipelines.tree_model.config import TreeModelConfig

logger = logging.getLogger(__name__)

#: Key columns of the predictions table; every other column is a model's log1p(Sales) forecast,
#: except the LSTM's own interval bounds (log1p): the LSTM calibrates them inside each fold as it
#: does when served, so the backtest can score them; and the rows' store event gaps
#: (`EVENT_EFFECTS`, features known at the origin) that `select_model` may add to forecasts.
KEYS = ("fold", "origin", "Store", "Date", "horizon_days", "week", "Sales")
LSTM_BOUNDS = ("lstm_lower", "lstm_upper")
RAW_COLUMNS = ("Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo",
               "StateHoliday", "SchoolHoliday")


def model_columns(predictions: pd.DataFrame) -> list[str]:
    return [c for c in predictions.columns
            if c not in KEYS and c not in LSTM_BOUNDS and c not in EVENT_EFFECTS]


def fold_origins(model_input_origins: pd.DataFrame, n_folds: int) -> list[pd.Timestamp]:
    """The last `n_folds` origins one horizon apart (six weeks), the last one ending at the end
    of the data, oldest first. The frame's origins may be closer together (more training rows),
    and the latest ones' horizons may be cut short by the end of the data (training rows only);
    folds never overlap."""
    origins = sorted(pd.to_datetime(model_input_origins["origin"].unique()))
    horizon = int(model_input_origins["horizon_days"].max())
    # the frame's last open day; the data's last day may be up to a week later if every store
    # was closed on the days in between (origins are at least a week apart)
    end = pd.to_datetime(model_input_origins["Date"]).max() + pd.Timedelta(days=6)
    last = max(o for o in origins if o + pd.Timedelta(days=horizon - 1) <= end)
    spaced = [o for o in origins if o <= last and (last - o).days % horizon == 0]
    if len(spaced) < n_folds + 1:
        raise ValueError(f"backtest.n_folds={n_folds} needs {n_folds + 1} origins {horizon} days "
                         f"apart (folds plus training rows before the first); the origin frame "
                         f"has {len(spaced)}")
    return spaced[-n_folds:]


def backtest_stores(model_input_origins: pd.DataFrame, sales_store_ids: np.ndarray | pd.Series,
                    fe_params: FeatureEngineeringConfig,
                    params: BacktestConfig) -> np.ndarray | None:
    """The stores whose history the folds train on and whose rows they score, or None for all:
    the origin frame's sample (`feature_engineering.origins.max_stores`, recomputed from the
    history's store ids) and, among the frame's stores, `backtest.max_stores`."""
    keep = origin_store_sample(sales_store_ids, fe_params["origins"])
    frame_stores = np.unique(model_input_origins["Store"].to_numpy())
    if keep is not None and not np.isin(frame_stores, keep).all():
        raise ValueError("model_input_origins holds stores outside the sample of "
                         "feature_engineering.origins.max_stores: re-run feature_engineering "
                         "with the current parameters")
    sample = sample_stores(frame_stores, params["max_stores"], int(params["seed"]),
                           setting="backtest.max_stores")
    if sample is not None:
        logger.info("Backtest on a seeded sample of %d of %d stores (backtest.max_stores)",
                    len(sample), len(frame_stores))
        return sample
    return keep


def run_backtest(model_input_origins: pd.DataFrame, sales_with_store: pd.DataFrame,
                 stores_clean: pd.DataFrame, fe_params: FeatureEngineeringConfig,
                 tree_params: TreeModelConfig, lstm_params: LSTMModelConfig,
                 params: BacktestConfig) -> pd.DataFrame:
    """Out-of-sample log1p forecasts of every model in `params["models"]`, per fold and day."""
    frame, sales = model_input_origins, sales_with_store
    keep = backtest_stores(frame, sales["Store"].unique(), fe_params, params)
    if keep is not None:
        frame, sales = frame.loc[frame["Store"].isin(keep)], sales.loc[sales["Store"].isin(keep)]
    return backtest_folds(frame, sales, stores_clean, fe_params, tree_params, lstm_params, params)


def backtest_folds(frame: pd.DataFrame, sales: pd.DataFrame, stores_clean: pd.DataFrame,
                   fe_params: FeatureEngineeringConfig, tree_params: TreeModelConfig,
                   lstm_params: LSTMModelConfig, params: BacktestConfig) -> pd.DataFrame:
    """`run_backtest` on an origin frame and history already restricted to the backtest's
    stores (`backtest_stores`): the Dask variant gathers only those stores' history."""
    t_start = time.perf_counter()
    specs = candidate_specs(tree_params)
    wanted = list(params["models"])
    unknown = set(wanted) - set(specs) - {"seasonal_naive", "lstm"}
    if unknown:
        raise ValueError(f"backtest.models: unknown models {sorted(unknown)}; tree candidates "
                         f"are {sorted(specs)}, plus seasonal_naive and lstm")
    folds = fold_origins(frame, int(params["n_folds"]))
    sales_dates = pd.to_datetime(sales["Date"])
    parts = []
    for i, origin in enumerate(folds, 1):
        t0 = time.perf_counter()
        ev = frame.loc[pd.to_datetime(frame["origin"]) == origin]
        raw = ev[["Store", "Date"]].merge(
            sales[[c for c in RAW_COLUMNS if c in sales.columns]], on=["Store", "Date"],
            how="left")
        out = pd.DataFrame({
            "fold": i, "origin": ev["origin"].to_numpy(), "Store": ev["Store"].to_numpy(),
            "Date": ev["Date"].to_numpy(), "horizon_days": ev["horizon_days"].to_numpy(np.int64),
            "Sales": ev["Sales"].to_numpy(np.int64),
            **{e: ev[e].to_numpy(np.float64) for e in EVENT_EFFECTS},
        })
        out["week"] = (out["horizon_days"] - 1) // 7 + 1
        history = sales.loc[sales_dates < origin]
        window_context = None
        for name in wanted:
            t_model = time.perf_counter()
            if name == "seasonal_naive":
                pred = mx.seasonal_naive(history, raw, weeks=int(params["naive_weeks"]))
                out[name] = np.log1p(np.maximum(pred, 0.0))
            elif name == "lstm":
                out[name], out[LSTM_BOUNDS[0]], out[LSTM_BOUNDS[1]] = _lstm_forecast(
                    history, stores_clean, origin, raw, lstm_params, fe_params["context"])
            else:
                spec = specs[name]
                if spec.training == "one_window" and window_context is None:
                    window_context = fit_origin_context(sales, stores_clean, origin,
                                                        fe_params["context"])
                model = _fit_candidate(spec, frame, history, window_context, origin,
                                       tree_params, f"fold {i}")
                out[name] = model.predict(ev[list(spec.features)])
            logger.info("Backtest fold %d/%d (origin %s) %-16s RMSPE %.4f  (%.0fs)", i,
                        len(folds), origin.date(), name,
                        mx.rmspe(out["Sales"], np.expm1(out[name])), time.perf_counter() - t_model)
        parts.append(out)
        logger.info("Backtest fold %d/%d done in %.0fs (%.0fs so far)", i, len(folds),
                    time.perf_counter() - t0, time.perf_counter() - t_start)
    return pd.concat(parts, ignore_index=True)


def _fit_candidate(spec: CandidateSpec, frame: pd.DataFrame, history: pd.DataFrame,
                   window_context, origin: pd.Timestamp, tree_params: dict[str, Any],
                   label: str):
    """`spec` fitted on the rows before the fold's origin, weighted by recency as tree_model
    weights them (`tree_model.recency_half_life_days`)."""
    drop = bool(tree_params["drop_outliers"])
    if spec.training == "origins":
        rows = origin_training_rows(frame.loc[pd.to_datetime(frame["Date"]) < origin], drop,
                                    float(tree_params["origin_row_fraction"]))
        X = rows
    else:
        rows = trainable_rows(history.loc[history["Open"] == 1], drop)
        X = build_features(rows, window_context)
    return spec.fit(X, rows["Sales"], label, int(tree_params["log_every"]),
                    recency_weights(rows["Date"], tree_params["recency_half_life_days"]))


def _lstm_forecast(history: pd.DataFrame, stores: pd.DataFrame, origin: pd.Timestamp,
                   raw: pd.DataFrame, lstm_params: dict[str, Any],
                   context_params: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The LSTM fitted on the history before the origin (its own early-stopping split inside),
    forecasting the fold's rows: log1p of the forecast and of its interval bounds; NaN for
    stores it has no history for."""
    from rossmann_kedro.features import FeatureContext
    from rossmann_kedro.models.lstm import train_network

    cols = [c for c in RAW_COLUMNS if c in history.columns]
    sales = history[cols].reset_index(drop=True)
    context = FeatureContext.fit(sales, stores, calendar_rows=None,
                                 train_end=origin - pd.Timedelta(days=1), params=context_params)
    model = train_network(sales, context, lstm_params,
                          member_processes=int(lstm_params["member_processes"]))
    known = raw["Store"].isin(model.stores).to_numpy()
    out = np.full((3, len(raw)), np.nan)
    if known.any():
        pred = model.predict(raw.loc[known])
        out[:, known] = np.log1p(pred[["Sales", "lower", "upper"]].to_numpy().T)
    return out[0], out[1], out[2]


def _fold_scores(predictions: pd.DataFrame, column: str | pd.Series) -> np.ndarray:
    pred = predictions[column] if isinstance(column, str) else column
    return np.array([mx.rmspe(g["Sales"], np.expm1(pred.loc[g.index]))
                     for _, g in predictions.groupby("fold")])


def select_model(predictions: pd.DataFrame, tree_params: TreeModelConfig,
                 params: BacktestConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add the ensembles, pick the served model by mean RMSPE over folds, test the store event
    gaps and a bias correction leave-one-fold-out, and add the `served` column (the choice,
    adjusted); likewise `lstm_served` (the LSTM with the event gaps and the bias correction
    that hold for it, tested by the same rule on its own forecasts)."""
    out = predictions.copy()
    specs = candidate_specs(tree_params)
    ensembles = ensemble_specs(tree_params)
    for name, members in ensembles.items():
        if all(m in out for m in members):
            out[name] = sum(w * out[m] for m, w in members.items())
    scored = [c for c in model_columns(out) if out[c].notna().all()]
    scores = {c: _fold_scores(out, c) for c in model_columns(out)}
    servable = [c for c in scored if c in specs or c in ensembles]
    if not servable:
        raise ValueError("backtest ran no tree candidate: add one to backtest.models")
    choice = tree_params["serve_model"]
    if choice == "auto":
        choice = min(servable, key=lambda c: scores[c].mean())
    elif choice not in servable:
        raise ValueError(f"tree_model.serve_model {choice!r} was not backtested; scored: "
                         f"{servable}")
    members = (ensembles[choice] if choice in ensembles
               else {choice: 1.0})
    weights = [float(w) for w in params["event_weights"]]
    events = _event_adjustment(out, out[choice], weights)
    adjusted = out[choice] + event_shift(events["weights"], out)
    factors = [float(f) for f in params["bias_factors"]]
    bias = _bias_correction(out, adjusted, factors)
    out["served"] = adjusted + bias["log_shift"]
    served_scores = _fold_scores(out, "served")
    baseline = params["reference_model"]
    selection = {
        "chosen": choice,
        "members": members,
        "event_weights": events["weights"],
        "events": events,
        "log_shift": bias["log_shift"],
        "bias": bias,
        "folds": [str(pd.Timestamp(o).date()) for o in sorted(out["origin"].unique())],
        "scores": {c: _score_summary(s) for c, s in scores.items()},
        "served": _score_summary(served_scores),
    }
    if "lstm" in out:
        lstm_events = _event_adjustment(out, out["lstm"], weights)
        lstm_adjusted = out["lstm"] + event_shift(lstm_events["weights"], out)
        lstm_bias = _bias_correction(out, lstm_adjusted, factors)
        out["lstm_served"] = lstm_adjusted + lstm_bias["log_shift"]
        selection["lstm_events"] = lstm_events
        selection["lstm_bias"] = lstm_bias
        selection["lstm_served"] = _score_summary(_fold_scores(out, "lstm_served"))
        logger.info("LSTM: event weights %s, bias factor %.4f (%s); served mean RMSPE %.4f",
                    lstm_events["weights"], lstm_bias["factor"],
                    "applied" if lstm_bias["applied"] else "not applied",
                    selection["lstm_served"]["mean_rmspe"])
    if baseline in scores:
        selection["beats_reference_every_fold"] = bool(np.all(served_scores < scores[baseline]))
        selection["reference_model"] = baseline
    logger.info("Backtest choice: %s (members %s), event weights %s, bias factor %.4f (%s); "
                "served mean RMSPE %.4f, folds %s", choice, members, events["weights"],
                np.exp(bias["log_shift"]), "applied" if bias["applied"] else "not applied",
                served_scores.mean(), np.round(served_scores, 4).tolist())
    for c in sorted(scores, key=lambda c: scores[c].mean()):
        logger.info("  %-18s mean RMSPE %.4f ± %.4f  folds %s", c, scores[c].mean(),
                    scores[c].std(ddof=0), np.round(scores[c], 4).tolist())
    return out, selection


def _score_summary(fold_scores: np.ndarray) -> dict[str, Any]:
    return {"mean_rmspe": float(fold_scores.mean()), "std_rmspe": float(fold_scores.std(ddof=0)),
            "fold_rmspe": [float(v) for v in fold_scores]}


#: RMSPE differences below this are float noise, not a change: a variant that leaves a fold's
#: forecasts as they are (an event gap of 0 on every row of a fold without the event) scored
#: 4e-12 above them on a real spring fold, and the rule then counted that fold as made worse.
SCORE_TIE = 1e-9


def _held_out_choice(predictions: pd.DataFrame, plain: pd.Series,
                     variants: list[pd.Series]) -> dict[str, Any]:
    """Leave-one-fold-out choice among `variants` of the log forecast `plain`: each fold is
    scored with the variant best on the other folds. The choice holds if that lowers the
    held-out RMSPE on average and raises it in at most one fold (a fold the variants leave
    unchanged, e.g. one without Carnival days, neither helps nor hurts). `best` is the variant
    best on all folds."""
    table = np.array([[mx.rmspe(g["Sales"], np.expm1(v.loc[g.index])) for v in variants]
                      for _, g in predictions.groupby("fold")])      # folds x variants
    plain_scores = _fold_scores(predictions, plain)
    held_out = np.array([
        table[k, int(np.argmin(np.delete(table, k, axis=0).mean(axis=0)))]
        if len(table) > 1 else table[k].min() for k in range(len(table))])
    holds = bool(held_out.mean() < plain_scores.mean() - SCORE_TIE
                 and (held_out > plain_scores + SCORE_TIE).sum() <= 1)
    return {"holds": holds, "best": int(np.argmin(table.mean(axis=0))),
            "held_out_rmspe": held_out.tolist(), "plain_rmspe": plain_scores.tolist()}


def _event_adjustment(predictions: pd.DataFrame, forecast: pd.Series,
                      weights: list[float]) -> dict[str, Any]:
    """Which store event gaps (`EVENT_EFFECTS`, in order) to add to `forecast` and at what
    weight: each effect's weight is chosen leave-one-fold-out among `weights` on the forecast
    with the effects before it added, and kept only if it holds (`_held_out_choice`)."""
    kept, tests = {}, {}
    if not weights:
        return {"weights": kept, "weights_tried": weights, "tests": tests}
    p = predictions.loc[(predictions["Sales"] > 0) & forecast.notna()]
    current = forecast.loc[p.index]
    for name in EVENT_EFFECTS:
        test = _held_out_choice(p, current, [current + w * p[name] for w in weights])
        weight = weights[test["best"]] if test["holds"] else 0.0
        tests[name] = {"weight": weight, "applied": weight != 0,
                       "best_weight_all_folds": weights[test["best"]], **test}
        if weight:
            kept[name] = weight
            current = current + weight * p[name]
    return {"weights": kept, "weights_tried": weights, "tests": tests}


def _bias_correction(predictions: pd.DataFrame, forecast: pd.Series,
                     factors: list[float]) -> dict[str, Any]:
    """A multiplicative correction is kept only if it holds across folds (`_held_out_choice`:
    chosen on the other folds, it lowers the held-out fold's RMSPE on average and raises it in
    at most one fold), on the rows `forecast` covers (the LSTM skips stores it has no history
    for). No factors (`bias_factors: []`): no test, no correction."""
    if not factors:
        return {"applied": False, "factor": 1.0, "log_shift": 0.0, "factors_tried": []}
    p = predictions.loc[forecast.notna()]
    forecast = forecast.loc[p.index]
    test = _held_out_choice(p, forecast, [forecast + np.log(f) for f in factors])
    best = float(factors[test["best"]])
    factor = best if test["holds"] else 1.0
    return {"applied": test["holds"], "factor": factor, "log_shift": float(np.log(factor)),
            "best_factor_all_folds": best,
            "held_out_rmspe_corrected": test["held_out_rmspe"],
            "held_out_rmspe_plain": test["plain_rmspe"], "factors_tried": factors}


def backtest_metrics(predictions: pd.DataFrame):
    """RMSPE/RMSE/MAE per model x fold x horizon week (week 0 = all six weeks), and the mean
    and spread over folds; plus the error-by-week and error-by-fold plots."""
    rows = []
    for model in model_columns(predictions):
        p = predictions.loc[predictions[model].notna()]
        for (fold, week), g in p.groupby(["fold", "week"]):
            rows.append({"model": model, "fold": int(fold), "week": int(week),
                         **mx.evaluate(g["Sales"], np.expm1(g[model]))})
        for fold, g in p.groupby("fold"):
            rows.append({"model": model, "fold": int(fold), "week": 0,
                         **mx.evaluate(g["Sales"], np.expm1(g[model]))})
    table = pd.DataFrame(rows)
    spread = (table.groupby(["model", "week"])[list(mx.METRICS)]
              .agg(["mean", "std", "min", "max"]))
    spread.columns = [f"{m}_{s}" for m, s in spread.columns]
    spread = spread.reset_index().assign(fold="mean")
    table["fold"] = table["fold"].astype(str)
    table = pd.concat([table, spread], ignore_index=True)
    return table, _error_figure(table)


def _error_figure(table: pd.DataFrame):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "RMSPE by horizon week (mean over folds)", "RMSPE by fold (all six weeks)"))
    mean = table.loc[table["fold"] == "mean"]
    per_fold = table.loc[(table["fold"] != "mean") & (table["week"] == 0)]
    order = mean.loc[mean["week"] == 0].sort_values("rmspe_mean")["model"]
    for model in order:
        m = mean.loc[(mean["model"] == model) & (mean["week"] > 0)].sort_values("week")
        fig.add_trace(go.Scatter(x=m["week"], y=m["rmspe_mean"], mode="lines+markers",
                                 name=model, legendgroup=model), row=1, col=1)
        f = per_fold.loc[per_fold["model"] == model]
        fig.add_trace(go.Bar(x=f["fold"], y=f["rmspe"], name=model, legendgroup=model,
                             showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="horizon week", row=1, col=1)
    fig.update_xaxes(title_text="fold (origin, oldest first)", row=1, col=2)
    fig.update_layout(title="Backtest: out-of-sample RMSPE", height=480, width=1200,
                      barmode="group")
    return fig


def _level_grid(level: float, search: Any) -> list[float] | None:
    """Quantile levels tried around `level` (see `adjusted_band_levels`); None = no search."""
    if not search:
        return None
    lo = max(0.5, level - float(search["below"]))
    hi = min(0.995, level + float(search["above"]))
    return [round(v, 4) for v in np.arange(lo, hi + 1e-9, float(search["step"]))]


def _fit_interval(level: float, cfg: Any, stores: np.ndarray, horizon: np.ndarray,
                  resid: np.ndarray, folds: np.ndarray) -> HorizonConformalInterval:
    """An interval calibrated on these folds' residuals, its band levels chosen on them."""
    grid = _level_grid(level, cfg["level_search"])
    band_levels = None if grid is None else adjusted_band_levels(
        stores, horizon, resid, folds, level, grid, int(cfg["band_days"]), float(cfg["shrinkage"]))
    return HorizonConformalInterval(
        level=level, band_days=int(cfg["band_days"]), shrinkage=float(cfg["shrinkage"]),
        band_levels=band_levels).fit(stores, horizon, resid)


def calibrate_intervals(predictions: pd.DataFrame, tree_params: TreeModelConfig,
                        params: BacktestConfig) -> tuple[HorizonConformalInterval, pd.DataFrame]:
    """Served interval calibration on all folds' out-of-sample residuals of the served model,
    and its honest coverage: for each fold, calibrated on the other folds only (the band levels
    too: they are chosen by leave-one-fold-out among those other folds, never on the fold
    scored)."""
    return _fold_calibrated_intervals(predictions, "served",
                                      float(tree_params["intervals"]["level"]),
                                      params["intervals"])


def calibrate_lstm_intervals(
    predictions: pd.DataFrame, lstm_params: LSTMModelConfig, params: BacktestConfig,
) -> tuple[HorizonConformalInterval | dict, pd.DataFrame]:
    """The LSTM's served bands calibrated as the tree's are (`calibrate_intervals`), on the
    out-of-sample residuals of the served LSTM (`lstm_served`: with its event gaps and bias
    correction) on the folds: its own bands, calibrated on the six weeks before each origin,
    covered 73 % at the nominal 80 % (README). `{}` (Kedro saves no None) and an empty table
    when `backtest.models` leaves the LSTM out."""
    if "lstm_served" not in predictions:
        return {}, _coverage_table([])
    return _fold_calibrated_intervals(predictions, "lstm_served",
                                      float(lstm_params["interval_level"]), params["intervals"])


def _coverage_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["level", "fold", "week", "coverage",
                                       "mean_relative_width", "n"])


def _band_coverage_rows(level: float, fold: Any, y: np.ndarray, lower: np.ndarray,
                        upper: np.ndarray, week: np.ndarray) -> list[dict[str, Any]]:
    """One fold's coverage and mean relative width of bands, overall (week 0) and per week."""
    hit = (y >= lower) & (y <= upper)
    width = (upper - lower) / y
    rows = []
    for w in [0, *np.unique(week)]:
        sel = np.ones_like(hit) if w == 0 else week == w
        rows.append({"level": level, "fold": str(int(fold)), "week": int(w),
                     "coverage": float(hit[sel].mean()),
                     "mean_relative_width": float(width[sel].mean()), "n": int(sel.sum())})
    return rows


def _with_fold_mean(table: pd.DataFrame) -> pd.DataFrame:
    """The per-fold coverage table plus, per level and week, the mean over folds (fold "mean")."""
    mean = (table.groupby(["level", "week"])
            .agg(coverage=("coverage", "mean"), mean_relative_width=("mean_relative_width",
                                                                     "mean"), n=("n", "sum"))
            .reset_index().assign(fold="mean"))
    return pd.concat([table, mean], ignore_index=True)


def _fold_calibrated_intervals(predictions: pd.DataFrame, column: str, served_level: float,
                               cfg: Any) -> tuple[HorizonConformalInterval, pd.DataFrame]:
    """Conformal bands on `column`'s out-of-sample log residuals of all folds (at
    `served_level`), and their nested leave-one-fold-out coverage at each of `cfg["levels"]`
    per fold x horizon week (week 0 = all), plus the mean over folds."""
    p = predictions.loc[(predictions["Sales"] > 0) & predictions[column].notna()]
    resid = np.log1p(p["Sales"].to_numpy(np.float64)) - p[column].to_numpy()
    stores, horizon = p["Store"].to_numpy(np.int64), p["horizon_days"].to_numpy(np.int64)
    folds = p["fold"].to_numpy()
    scored = np.unique(folds)
    if len(scored) < 2:  # a cheap run (backtest.n_folds: 1): nothing to calibrate a fold on
        logger.warning("Interval coverage needs two folds or more (each fold is calibrated on "
                       "the others); with %d fold none is reported, and the served intervals "
                       "(%s) are calibrated at the nominal levels on it", len(scored), column)
        scored = scored[:0]
    rows = []
    for level in cfg["levels"]:
        for fold in scored:
            cal, ev = folds != fold, folds == fold
            interval = _fit_interval(float(level), cfg, stores[cal], horizon[cal], resid[cal],
                                     folds[cal])
            lo, hi = interval.bounds(stores[ev], p[column].to_numpy()[ev], horizon[ev])
            rows += _band_coverage_rows(float(level), fold, p["Sales"].to_numpy(np.float64)[ev],
                                        lo, hi, p["week"].to_numpy()[ev])
    table = _with_fold_mean(_coverage_table(rows))
    mean = table.loc[table["fold"] == "mean"]
    served = _fit_interval(served_level, cfg, stores, horizon, resid, folds)
    for _, r in mean.loc[mean["week"] == 0].iterrows():
        logger.info("Intervals of %s at %.0f%%: leave-one-fold-out coverage %.3f, mean width "
                    "%.1f%% of Sales", column, 100 * r["level"], r["coverage"],
                    100 * r["mean_relative_width"])
    return served, table


def coverage_figure(coverage_table: pd.DataFrame, lstm_summary: dict[str, Any]):
    """Coverage by horizon week against nominal, mean over folds: the bands each model is
    served with (each fold calibrated on the others) and, dotted, the LSTM's own bands
    (calibrated inside each fold on the weeks before its origin)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    mean = coverage_table.loc[(coverage_table["fold"] == "mean") & (coverage_table["week"] > 0)]
    for level, g in mean.groupby("level"):
        g = g.sort_values("week")
        fig.add_trace(go.Scatter(x=g["week"], y=g["coverage"], mode="lines+markers",
                                 name=f"tree {100 * level:.0f}% interval"))
        fig.add_hline(y=level, line_dash="dot", annotation_text=f"nominal {100 * level:.0f}%")
    lstm = lstm_summary or {}
    bands = [(f"LSTM {level}% interval", band, "dash")
             for level, band in lstm.get("intervals", {}).items()]
    if "own_bands" in lstm:
        own = lstm["own_bands"]
        bands.append((f"LSTM {100 * own['level']:.0f}% own bands (not served)", own, "dot"))
    for name, band, dash in bands:
        weeks = np.arange(1, len(band["coverage_by_week"]) + 1)
        fig.add_trace(go.Scatter(x=weeks, y=band["coverage_by_week"], mode="lines+markers",
                                 line={"dash": dash}, name=name))
    fig.update_layout(title="Backtest: interval coverage by horizon week (mean over folds; each "
                            "fold calibrated on the others)", xaxis_title="horizon week",
                      yaxis_title="coverage", height=450, width=900)
    return fig


def worst_stores(predictions: pd.DataFrame, params: BacktestConfig) -> pd.DataFrame:
    """Per fold, the stores contributing most squared percentage error of the served model, each
    with its worst day (date, Sales, forecast and that day's share of the store's error): one
    anomalous day (a partial opening, a clearance) reads differently from a store missed all
    along, and RMSPE lets a single near-zero Sales day dominate a fold."""
    p = predictions.loc[(predictions["Sales"] > 0) & predictions["served"].notna()]
    forecast = np.expm1(p["served"])
    spe = ((p["Sales"] - forecast) / p["Sales"]) ** 2
    frame = pd.DataFrame({"fold": p["fold"], "Store": p["Store"], "Date": p["Date"],
                          "Sales": p["Sales"], "forecast": forecast, "spe": spe})
    out = []
    for fold, g in frame.groupby("fold"):
        per = g.groupby("Store")["spe"].agg(["sum", "count"])
        per["share_of_squared_error"] = per["sum"] / per["sum"].sum()
        per["store_rmspe"] = np.sqrt(per["sum"] / per["count"])
        top = per.sort_values("sum", ascending=False).head(int(params["top_stores"]))
        worst = g.loc[g.groupby("Store")["spe"].idxmax()].set_index("Store").loc[top.index]
        top = top.assign(worst_date=pd.to_datetime(worst["Date"]).dt.strftime("%Y-%m-%d"),
                         worst_day_sales=worst["Sales"].to_numpy(),
                         worst_day_forecast=worst["forecast"].round(1).to_numpy(),
                         worst_day_share=(worst["spe"] / top["sum"]).to_numpy())
        out.append(top.reset_index().assign(fold=int(fold), rank=np.arange(1, len(top) + 1)))
    table = pd.concat(out, ignore_index=True).rename(columns={"count": "days"})
    return table[["fold", "rank", "Store", "share_of_squared_error", "store_rmspe", "days",
                  "worst_date", "worst_day_sales", "worst_day_forecast", "worst_day_share"]]


def backtest_summary(selection: dict[str, Any], coverage_table: pd.DataFrame,
                     predictions: pd.DataFrame) -> dict[str, Any]:
    """The figures the served version is chosen on (GetModelInfo / `/model` report them)."""
    return {
        "folds": selection["folds"],
        "horizon_days": int(predictions["horizon_days"].max()),
        "chosen": selection["chosen"],
        "members": selection["members"],
        "bias_factor": float(np.exp(selection["log_shift"])),
        "event_weights": selection["event_weights"],
        "mean_rmspe": selection["served"]["mean_rmspe"],
        "std_rmspe": selection["served"]["std_rmspe"],
        "fold_rmspe": selection["served"]["fold_rmspe"],
        **_mean_errors(predictions, "served"),
        "intervals": _coverage_by_level(coverage_table),
        "models": {m: s["mean_rmspe"] for m, s in selection["scores"].items()},
    }


def _coverage_by_level(coverage_table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per level ("80", "95"): leave-one-fold-out coverage and width, mean over folds, overall
    and by horizon week, and each fold's coverage."""
    by_level = {}
    for level, g in coverage_table.groupby("level"):
        mean = g.loc[g["fold"] == "mean"]
        overall = mean.loc[mean["week"] == 0].iloc[0]
        per_fold = g.loc[(g["fold"] != "mean") & (g["week"] == 0)]
        by_level[f"{100 * level:.0f}"] = {
            "coverage": float(overall["coverage"]),
            "mean_relative_width": float(overall["mean_relative_width"]),
            "coverage_by_week": [float(v) for v in
                                 mean.loc[mean["week"] > 0].sort_values("week")["coverage"]],
            "coverage_by_fold": [float(v) for v in
                                 per_fold.sort_values("fold", key=lambda f: f.astype(int))[
                                     "coverage"]],
        }
    return by_level


def _mean_errors(predictions: pd.DataFrame, column: str) -> dict[str, float]:
    """RMSE and MAE of a model's forecasts, mean over folds."""
    per_fold = [mx.evaluate(g["Sales"], np.expm1(g[column]))
                for _, g in predictions.loc[predictions[column].notna()].groupby("fold")]
    return {"mean_rmse": float(np.mean([m["rmse"] for m in per_fold])),
            "mean_mae": float(np.mean([m["mae"] for m in per_fold]))}


def lstm_backtest_summary(predictions: pd.DataFrame, selection: dict[str, Any],
                          lstm_coverage: pd.DataFrame,
                          lstm_params: LSTMModelConfig) -> dict[str, Any]:
    """The LSTM's out-of-sample figures, in the shape of the served tree's `backtest_summary`,
    for `lstm_model` to put into the served LSTM (GetModelInfo / `/model`): RMSPE per fold of the
    served LSTM (`lstm_served`: the network plus the event gaps and the bias correction that
    held for it, which it carries; `network_mean_rmspe` is the network alone), the
    leave-one-fold-out coverage of the bands it is served with (`calibrate_lstm_intervals`) and,
    for the record, of its own bands (`own_bands`: calibrated inside each fold on the six weeks
    before the origin, as lstm_model alone would). `settings` are the network settings the
    folds used, so lstm_model can tell whether the figures describe its own configuration.
    `{}` when `backtest.models` leaves the LSTM out."""
    from rossmann_kedro.models.lstm import network_settings

    if "lstm_served" not in predictions or "lstm_served" not in selection:
        logger.info("The backtest did not score the LSTM (backtest.models): the served LSTM "
                    "reports its validation window and keeps its own bands")
        return {}
    p = predictions.loc[predictions["lstm"].notna() & (predictions["Sales"] > 0)]
    level = float(lstm_params["interval_level"])
    own = _coverage_by_level(_with_fold_mean(_coverage_table([
        row for fold, g in p.groupby("fold")
        for row in _band_coverage_rows(level, fold, g["Sales"].to_numpy(np.float64),
                                       np.expm1(g[LSTM_BOUNDS[0]].to_numpy()),
                                       np.expm1(g[LSTM_BOUNDS[1]].to_numpy()),
                                       g["week"].to_numpy())])))[f"{100 * level:.0f}"]
    scores = selection["lstm_served"]
    summary = {
        "folds": selection["folds"],
        "horizon_days": int(predictions["horizon_days"].max()),
        "chosen": "lstm",
        "members": {"lstm": 1.0},
        "bias_factor": selection["lstm_bias"]["factor"],
        "event_weights": selection["lstm_events"]["weights"],
        "mean_rmspe": scores["mean_rmspe"],
        "std_rmspe": scores["std_rmspe"],
        "fold_rmspe": scores["fold_rmspe"],
        "network_mean_rmspe": selection["scores"]["lstm"]["mean_rmspe"],
        **_mean_errors(p, "lstm_served"),
        "intervals": _coverage_by_level(lstm_coverage),
        "own_bands": {"level": level, **own},
        "settings": network_settings(lstm_params),
    }
    logger.info("LSTM on the folds: mean RMSPE %.4f; its own %.0f%% bands covered %.3f (weeks "
                "%s), the fold-calibrated ones %s", summary["mean_rmspe"], 100 * level,
                own["coverage"], np.round(own["coverage_by_week"], 3).tolist(),
                {k: round(v["coverage"], 3) for k, v in summary["intervals"].items()})
    return summary
