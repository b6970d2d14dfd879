"""Nodes of the lstm_model pipeline: stationarity analysis, training with a time-based
validation window, evaluation with the shared metrics, the served forecaster and batch scoring.

The heavy lifting lives in `rossmann_kedro.timeseries` (grid, windows, tests) and
`rossmann_kedro.models.lstm` (network, `LSTMForecaster`); nodes only slice data and log. The
validation window is feature_engineering's: it starts the day after the validation context's
statistics end (`feature_context_validation.train_end`).
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from rossmann_kedro import timeseries as ts
from rossmann_kedro.features import FeatureContext
from rossmann_kedro.models.batch import scoring_outputs
from rossmann_kedro.models.events import checked_event_weights
from rossmann_kedro.models.intervals import HorizonConformalInterval
from rossmann_kedro.models.lstm import (
    LSTMForecaster,
    interval_method,
    train_network,
    validation_report,
)
from rossmann_kedro.pipelines.lstm_model.config import LSTMModelConfig

logger = logging.getLogger(__name__)

SALES_COLUMNS = ("Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo",
                 "StateHoliday", "SchoolHoliday", "SalesOutlier")


def select_stores(sales_with_store: pd.DataFrame, params: LSTMModelConfig) -> pd.DataFrame:
    """The sales columns of all stores, or of a seeded sample of `max_stores` (for quick runs)."""
    cols = [c for c in SALES_COLUMNS if c in sales_with_store.columns]
    sales = sales_with_store[cols]
    max_stores = params["max_stores"]
    stores = np.unique(sales["Store"].to_numpy())
    if max_stores and len(stores) > int(max_stores):
        rng = np.random.default_rng(int(params["seed"]))
        keep = np.sort(rng.choice(stores, size=int(max_stores), replace=False))
        sales = sales.loc[sales["Store"].isin(keep)]
        logger.info("LSTM uses a sample of %d of %d stores (max_stores)", len(keep), len(stores))
    logger.info("LSTM input: %d rows, %d stores, %s..%s", len(sales), sales["Store"].nunique(),
                sales["Date"].min().date(), sales["Date"].max().date())
    return sales.reset_index(drop=True)


def stationarity_report(sales: pd.DataFrame, feature_context_validation: FeatureContext,
                        params: LSTMModelConfig):
    """ADF/KPSS table for the chain aggregate and a seeded sample of stores, on the log level and
    its candidate transforms; ACF/PACF of the aggregate (table + Kedro-Viz plot).

    Only data before the validation window is analysed (it informs modelling choices)."""
    t0 = time.perf_counter()
    p = params["stationarity"]
    hist = sales.loc[sales["Date"] <= pd.Timestamp(feature_context_validation.train_end)]
    grid = ts.build_grid(hist)
    rng = np.random.default_rng(int(p["seed"]))
    n = min(int(p["max_stores"]), len(grid.store_ids))
    sample = np.sort(rng.choice(grid.store_ids, size=n, replace=False))
    agg = ts.aggregate_series(hist)
    series = {"aggregate": agg, **{f"store_{s}": ts.store_series(grid, int(s)) for s in sample}}
    table = ts.stationarity_table(series, level_window=int(params["window_days"]),
                                  alpha=float(p["alpha"]), maxlag=int(p["adf_maxlag"]))
    summary = (table.groupby("transform")["verdict"].value_counts().unstack(fill_value=0)
               if len(table) else pd.DataFrame())
    logger.info("Stationarity verdicts (aggregate + %d stores) by transform:\n%s", n, summary)
    acf_input = {name: s.dropna() for name, s in ts.transforms(agg, int(params["window_days"])).items()
                 if name in ("log", "seasonal_diff7", "minus_level")}
    acf = ts.acf_pacf_table({f"aggregate {k}": v for k, v in acf_input.items()}, int(p["nlags"]))
    fig = ts.acf_pacf_figure(acf, "Chain-level daily log sales: ACF / PACF before and after "
                                  "weekly differencing and level removal")
    logger.info("Stationarity report: %d tests, ACF/PACF to lag %d, in %.1fs", len(table),
                int(p["nlags"]), time.perf_counter() - t0)
    return table, acf, fig


def train_lstm(sales: pd.DataFrame, context: FeatureContext,
               params: LSTMModelConfig) -> LSTMForecaster:
    """Fit the network on the history up to the end of `context`'s statistics, early stopping
    on its last weeks. Wired twice: with feature_engineering's validation context (the
    validation-phase model, scored on the window and set aside) and with its full context (the
    served model, fitted like the backtest's at an origin; serving the validation-phase weights
    with a moved history scored 0.159 against 0.145 on the four folds, README)."""
    t0 = time.perf_counter()
    model = train_network(sales, context, params,
                          member_processes=int(params["member_processes"]))
    logger.info("LSTM trained on history to %s in %.1fs (early-stopping split from %s)",
                model.metadata["history_end"], time.perf_counter() - t0,
                model.training["early_stopping_split"])
    return model


def evaluate_lstm(model: LSTMForecaster,
                  sales: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Validation metrics (shared RMSPE/RMSE/MAE on Sales > 0) and interval coverage of
    `model.predict` on the validation window (every day after the model's history), plus the
    predictions."""
    rows = sales.loc[sales["Date"] > pd.Timestamp(model.metadata["history_end"])]
    report, predictions = validation_report(model, rows)
    report["training"] = {k: v for k, v in model.training.items() if k != "history"}
    logger.info("LSTM validation %s..%s: RMSPE %.4f  RMSE %.1f  MAE %.1f  (%d days with "
                "Sales > 0); %.0f%% interval coverage %.3f", report["validation_start"],
                report["validation_end"], report["rmspe"], report["rmse"], report["mae"],
                report["n"], 100 * report["interval_level"], report["coverage"])
    return report, predictions


def training_history(validation_model: LSTMForecaster,
                     served_model: LSTMForecaster) -> pd.DataFrame:
    """Both fits' epoch logs, `phase` naming the fit (`validation`, `served`)."""
    return pd.concat([pd.DataFrame(m.training["history"]).assign(phase=phase)
                      for phase, m in (("validation", validation_model), ("served", served_model))],
                     ignore_index=True)


def build_forecaster(model: LSTMForecaster, metrics: dict[str, Any],
                     backtest_lstm_summary: dict[str, Any],
                     backtest_lstm_interval_calibration: HorizonConformalInterval | dict,
                     ) -> LSTMForecaster:
    """The served model (fitted through the last input date, so the real test dates are 43..90
    days ahead) with the backtest's bands and figures, as the tree has them, when the backtest
    scored the LSTM with these very settings (each fold fits it the way this model was fitted):
    its own bands, calibrated on six weeks, covered 73 % at 80 % on the folds. Otherwise it
    keeps its own bands and reports the validation-phase model's figures on the validation
    window (the served weights have seen that window, so it cannot score them), kept in
    `validation_window` either way."""
    model = copy.copy(model)  # the trained model stays as it was
    model.metadata = {k: v for k, v in model.metadata.items()
                      if k not in ("backtest", "event_weights", "bias_factor")}
    model.event_weights = {}  # the backtest's, below, only if it describes this model
    model.log_shift = 0.0
    window = {k: metrics[k] for k in ("rmspe", "rmse", "mae")}
    model.metadata["validation_window"] = {
        "start": metrics["validation_start"], "end": metrics["validation_end"],
        "scored_model": "validation-phase (same settings, fitted before the window)",
        "metrics": window, "coverage": metrics["coverage"]}
    model.metadata["metrics"], model.metadata["coverage"] = window, metrics["coverage"]
    summary = backtest_lstm_summary or {}
    calibration = backtest_lstm_interval_calibration
    level = f"{100 * model.interval.level:.0f}"
    if _backtest_describes(model, summary, calibration):
        model.interval = calibration
        model.event_weights = checked_event_weights(summary.get("event_weights"))
        model.metadata["event_weights"] = dict(model.event_weights)
        model.log_shift = float(np.log(_checked_bias_factor(summary.get("bias_factor", 1.0))))
        model.metadata["bias_factor"] = float(np.exp(model.log_shift))
        model.metadata["interval_method"] = interval_method(calibration)
        model.metadata["backtest"] = summary
        model.metadata["metrics"] = {"rmspe": summary["mean_rmspe"],
                                     "rmse": summary["mean_rmse"], "mae": summary["mean_mae"]}
        model.metadata["coverage"] = summary["intervals"][level]["coverage"]
        logger.info("LSTM serves the backtest's bands and reports its figures: mean RMSPE %.4f "
                    "over %d folds, %s%% coverage %.3f (its own bands: %.3f)",
                    summary["mean_rmspe"], len(summary["folds"]), level,
                    model.metadata["coverage"], summary["own_bands"]["coverage"])
    elif summary:
        logger.warning("The backtest's LSTM figures were made with other settings than "
                       "parameters_lstm_model.yml now holds: the served LSTM keeps its own bands "
                       "and reports its validation window; re-run the backtest for its backtest "
                       "bands and figures")
    else:
        logger.info("No backtest figures for the LSTM: it keeps its own bands and reports its "
                    "validation window")
    logger.info("LSTM forecaster ready: %d stores, history to %s, valid request dates %s..%s",
                len(model.stores), model.metadata["history_end"], *model.metadata["valid_dates"])
    return model


def _checked_bias_factor(factor: Any) -> float:
    """The backtest's multiplicative bias correction, which must be a positive finite number."""
    value = float(factor)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"backtest_lstm_summary: bias_factor must be positive, got {factor!r}")
    return value


def _backtest_describes(model: LSTMForecaster, summary: dict[str, Any],
                        calibration: HorizonConformalInterval | dict) -> bool:
    """Whether the backtest's LSTM figures and bands are this model's: made with its network
    settings, at its interval level."""
    level = model.interval.level
    return (bool(summary) and isinstance(calibration, HorizonConformalInterval)
            and summary.get("settings") == model.config and calibration.level == level
            and f"{100 * level:.0f}" in summary["intervals"])


def predict_test(lstm_forecaster: LSTMForecaster,
                 test_clean: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaggle submission (Id, Sales) and predictions with intervals for test.csv, through
    `LSTMForecaster.predict` -- the very call the gRPC server makes. Test rows of stores the
    model does not know, and rows outside the dates it forecasts (`lstm_model.horizon_days` after
    the end of its history: a test.csv far beyond the train), are left out (logged), as the
    server refuses them."""
    t0 = time.perf_counter()
    known = test_clean["Store"].isin(lstm_forecaster.stores)
    if not known.all():
        logger.warning("LSTM: %d test rows of %d stores without history are not scored",
                       int((~known).sum()), test_clean.loc[~known, "Store"].nunique())
    first, last = lstm_forecaster.metadata["valid_dates"]
    in_horizon = pd.to_datetime(test_clean["Date"]).between(pd.Timestamp(first),
                                                             pd.Timestamp(last))
    if not in_horizon.all():
        logger.warning("LSTM: %d test rows outside the dates it forecasts, %s..%s "
                       "(lstm_model.horizon_days after the end of its history), are not scored",
                       int((~in_horizon).sum()), first, last)
    rows = test_clean.loc[known & in_horizon]
    pred = lstm_forecaster.predict(rows)
    return scoring_outputs(rows, pred, t0, "LSTM")
