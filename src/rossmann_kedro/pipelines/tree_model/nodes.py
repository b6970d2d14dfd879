"""Nodes of the tree_model pipeline: train, validate and compare RandomForest and XGBoost against a
seasonal-naive baseline, explain, calibrate intervals, refit, package the served forecaster and
score test.csv through it.

Validation is time-based: models fit on the history before the validation window (features from
`feature_context_validation`, whose statistics stop before it) and are scored on the window.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from rossmann_kedro.features import FEATURE_NAMES, FeatureContext
from rossmann_kedro.models import metrics as mx
from rossmann_kedro.models.batch import scoring_outputs
from rossmann_kedro.models.intervals import (
    ConformalLogInterval,
    coverage,
    cross_conformal_coverage,
)
from rossmann_kedro.models.tree import (
    TreeForecaster,
    fit_pipeline,
    make_random_forest,
    make_xgboost,
)

logger = logging.getLogger(__name__)

MODEL_MAKERS = {"random_forest": make_random_forest, "xgboost": make_xgboost}
FEATURES = list(FEATURE_NAMES)


def _training_rows(model_input: pd.DataFrame, params: dict[str, Any],
                   validation: bool) -> pd.DataFrame:
    """Open days with Sales > 0 (minus flagged outliers if asked), before the validation window
    when `validation`."""
    keep = (model_input["Open"] == 1) & (model_input["Sales"] > 0)
    if params.get("drop_outliers", False):
        keep &= ~model_input["SalesOutlier"].astype(bool)
    if validation:
        keep &= ~model_input["is_validation"].astype(bool)
    rows = model_input.loc[keep]
    max_rows = params.get("max_train_rows")
    if max_rows and len(rows) > max_rows:
        rows = rows.sample(n=int(max_rows), random_state=0).sort_index()
    return rows


def _target(sales: pd.Series, target: str) -> np.ndarray:
    s = sales.to_numpy(np.float64)
    return np.log1p(s) if target == "log1p" else s


def _validation_rows(model_input: pd.DataFrame) -> pd.DataFrame:
    return model_input.loc[model_input["is_validation"].astype(bool)
                           & (model_input["Open"] == 1)]


def train_model(model_input_validation: pd.DataFrame, params: dict[str, Any],
                model_name: str) -> tuple[Pipeline, dict[str, Any]]:
    """Fit one model on the pre-validation history (log1p target), eval-logged on the window."""
    t0 = time.perf_counter()
    cfg = params["models"][model_name]
    train = _training_rows(model_input_validation, params, validation=True)
    val = _validation_rows(model_input_validation)
    val = val.loc[val["Sales"] > 0]
    pipe = MODEL_MAKERS[model_name](cfg)
    fit_pipeline(pipe, train[FEATURES], _target(train["Sales"], "log1p"),
                 eval_set=(val[FEATURES], _target(val["Sales"], "log1p")),
                 log_every=params.get("log_every", 100), label=f"{model_name} (validation fit)")
    info = {"train_rows": int(len(train)), "fit_seconds": round(time.perf_counter() - t0, 2)}
    return pipe, info


def train_random_forest(model_input_validation: pd.DataFrame,
                        params: dict[str, Any]) -> tuple[Pipeline, dict[str, Any]]:
    return train_model(model_input_validation, params, "random_forest")


def train_xgboost(model_input_validation: pd.DataFrame,
                  params: dict[str, Any]) -> tuple[Pipeline, dict[str, Any]]:
    return train_model(model_input_validation, params, "xgboost")


def predict_validation(model_input_validation: pd.DataFrame, random_forest: Pipeline,
                       xgboost: Pipeline, params: dict[str, Any]) -> pd.DataFrame:
    """Validation-window predictions of the three contenders, side by side (open days).

    Tree predictions come from the same feature matrix the served `TreeForecaster.predict`
    builds (the validation context), so these scores are what serving would have achieved.
    """
    t0 = time.perf_counter()
    val = _validation_rows(model_input_validation)
    history = model_input_validation.loc[~model_input_validation["is_validation"].astype(bool)]
    out = pd.DataFrame({
        "Date": val["Date"].to_numpy(),
        "Store": val["Store"].to_numpy(np.int64),
        "DayOfWeek": val["DayOfWeek"].to_numpy(np.int64),
        "Sales": val["Sales"].to_numpy(np.int64),
    })
    hist = pd.DataFrame({"Store": history["Store"].astype(np.int64),
                         "DayOfWeek": history["DayOfWeek"].astype(np.int64),
                         "Date": history["Date"], "Sales": history["Sales"],
                         "Open": history["Open"]})
    out["seasonal_naive"] = mx.seasonal_naive(
        hist, out.assign(Open=1), weeks=params.get("naive_weeks", 8))
    for name, pipe in (("random_forest", random_forest), ("xgboost", xgboost)):
        out[f"{name}_log"] = pipe.predict(val[FEATURES])
        out[name] = np.expm1(out[f"{name}_log"])
    logger.info("Validation predictions: %d open store-days %s..%s in %.1fs", len(out),
                out["Date"].min().date(), out["Date"].max().date(), time.perf_counter() - t0)
    return out


def compare_losses(model_input_validation: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The loss choice, measured: the same (cheaper) XGBoost configuration fitted once on
    log1p(Sales) and once on Sales, both with squared error, scored on the validation window."""
    cfg = params.get("loss_comparison") or {}
    if not cfg.get("enabled", True):
        return {"enabled": False}
    t0 = time.perf_counter()
    train = _training_rows(model_input_validation, params, validation=True)
    val = _validation_rows(model_input_validation)
    xgb_cfg = {**params["models"]["xgboost"], **cfg.get("overrides", {})}
    result: dict[str, Any] = {"enabled": True, "xgboost_params": xgb_cfg}
    for target in ("log1p", "sales"):
        pipe = make_xgboost(xgb_cfg)
        fit_pipeline(pipe, train[FEATURES], _target(train["Sales"], target),
                     log_every=0, label=f"loss comparison ({target})")
        pred = pipe.predict(val[FEATURES])
        sales = np.expm1(pred) if target == "log1p" else np.maximum(pred, 0.0)
        key = "squared_error_on_log1p_sales" if target == "log1p" else "squared_error_on_sales"
        result[key] = mx.evaluate(val["Sales"], sales)
        logger.info("Loss comparison %s: %s", key, result[key])
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def choose_model(validation_predictions: pd.DataFrame, params: dict[str, Any]) -> str:
    """`serve_model` from the parameters, or with "auto" the tree with the lower RMSPE."""
    choice = params.get("serve_model", "auto")
    if choice == "auto":
        scores = {m: mx.rmspe(validation_predictions["Sales"], validation_predictions[m])
                  for m in MODEL_MAKERS}
        choice = min(scores, key=scores.get)
        logger.info("Chosen model by validation RMSPE: %s (%s)", choice,
                    {k: round(v, 5) for k, v in scores.items()})
    if choice not in MODEL_MAKERS:
        raise ValueError(f"serve_model must be auto or one of {list(MODEL_MAKERS)}, got {choice!r}")
    return choice


def calibrate_intervals(validation_predictions: pd.DataFrame, chosen: str,
                        params: dict[str, Any]) -> tuple[ConformalLogInterval, dict[str, Any]]:
    """Conformal interval calibration on the chosen model's validation residuals, and an honest
    coverage estimate (calibrate on one half of the window, measure on the other)."""
    cfg = params.get("intervals", {})
    level = float(cfg.get("level", 0.8))
    shrink = float(cfg.get("shrinkage", 10.0))
    v = validation_predictions.loc[validation_predictions["Sales"] > 0]
    stores = v["Store"].to_numpy(np.int64)
    pred_log = v[f"{chosen}_log"].to_numpy()
    resid = np.log1p(v["Sales"].to_numpy(np.float64)) - pred_log
    calib = ConformalLogInterval(level=level, shrinkage=shrink).fit(stores, resid)
    report = cross_conformal_coverage(v["Date"], stores, v["Sales"].to_numpy(), pred_log,
                                      level, shrink)
    lo, hi = calib.bounds(stores, pred_log)
    report.update({"method": "split-conformal on log1p residuals, per-store scale",
                   "model": chosen, "in_sample_coverage": coverage(v["Sales"].to_numpy(), lo, hi),
                   "n_calibration": int(len(v))})
    logger.info("Intervals at %.0f%%: cross-validated coverage %.3f (in-sample %.3f)",
                100 * level, report["coverage"], report["in_sample_coverage"])
    return calib, report


def compare_models(validation_predictions: pd.DataFrame, random_forest_info: dict[str, Any],
                   xgboost_info: dict[str, Any], loss_comparison: dict[str, Any],
                   interval_report: dict[str, Any], chosen: str):
    """The versioned metrics document and the comparison plot (Kedro-Viz shows both)."""
    v = validation_predictions
    results = {m: mx.evaluate(v["Sales"], v[m])
               for m in ("seasonal_naive", "random_forest", "xgboost")}
    for name, info in (("random_forest", random_forest_info), ("xgboost", xgboost_info)):
        results[name].update(info)
    doc = {
        "validation_window": {"start": str(v["Date"].min().date()),
                              "end": str(v["Date"].max().date()),
                              "open_store_days": int(len(v))},
        "models": results,
        "chosen": chosen,
        "loss_comparison": loss_comparison,
        "intervals": interval_report,
    }
    for name, r in results.items():
        logger.info("Validation %-15s RMSPE %.4f  RMSE %8.1f  MAE %8.1f", name, r["rmspe"],
                    r["rmse"], r["mae"])
    fig = mx.comparison_figure(results, f"Validation {doc['validation_window']['start']}.."
                                        f"{doc['validation_window']['end']} (Sales > 0)")
    return doc, fig


def feature_importance(xgboost: Pipeline, model_input_validation: pd.DataFrame,
                       params: dict[str, Any]):
    """XGBoost gain importance and permutation importance (RMSPE increase) on the validation
    window, as one table and one plot."""
    t0 = time.perf_counter()
    cfg = params.get("permutation_importance", {})
    booster = xgboost.named_steps["model"].get_booster()
    names = list(xgboost.named_steps["prep"].get_feature_names_out())
    raw_gain = booster.get_score(importance_type="gain")
    # the booster sees the ColumnTransformer's order; map f<i>/names back to features
    gain = {names[int(k[1:])] if k.startswith("f") and k[1:].isdigit() else k: v
            for k, v in raw_gain.items()}
    val = _validation_rows(model_input_validation)
    val = val.loc[val["Sales"] > 0]
    n = int(cfg.get("n_rows", 20000))
    if len(val) > n:
        val = val.sample(n=n, random_state=0)

    def neg_rmspe(est, X, y):
        return -mx.rmspe(y, np.expm1(est.predict(X)))

    perm = permutation_importance(xgboost, val[FEATURES], val["Sales"].to_numpy(np.float64),
                                  scoring=neg_rmspe, n_repeats=int(cfg.get("n_repeats", 2)),
                                  random_state=0, n_jobs=1)
    table = pd.DataFrame({
        "feature": FEATURES,
        "gain": [gain.get(f, 0.0) for f in FEATURES],
        "permutation_rmspe_increase": perm.importances_mean,
        "permutation_std": perm.importances_std,
    })
    table["gain_share"] = table["gain"] / max(table["gain"].sum(), 1e-12)
    table = table.sort_values("gain", ascending=False).reset_index(drop=True)
    logger.info("Feature importance on %d validation rows in %.1fs; top gain: %s; top "
                "permutation: %s", len(val), time.perf_counter() - t0,
                list(table["feature"][:5]),
                list(table.sort_values("permutation_rmspe_increase", ascending=False)["feature"][:5]))
    return table, _importance_figure(table)


def _importance_figure(table: pd.DataFrame, top: int = 25):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = table.head(top).iloc[::-1]
    p = table.sort_values("permutation_rmspe_increase", ascending=False).head(top).iloc[::-1]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "XGBoost gain (share)", "Permutation: RMSPE increase on validation"))
    fig.add_trace(go.Bar(x=t["gain_share"], y=t["feature"], orientation="h", showlegend=False),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=p["permutation_rmspe_increase"], y=p["feature"], orientation="h",
                         error_x={"type": "data", "array": p["permutation_std"]},
                         showlegend=False), row=1, col=2)
    fig.update_layout(title="Feature importance", height=750, width=1200)
    return fig


def refit_model(model_input_full: pd.DataFrame, random_forest: Pipeline, xgboost: Pipeline,
                chosen: str, params: dict[str, Any]) -> Pipeline:
    """Refit the chosen model on all history (features from the full context) for serving, or
    keep the validation fit when `refit_on_full_data` is false."""
    if not params.get("refit_on_full_data", True):
        logger.info("refit_on_full_data is false: serving the validation fit of %s", chosen)
        return random_forest if chosen == "random_forest" else xgboost
    train = _training_rows(model_input_full, params, validation=False)
    pipe = MODEL_MAKERS[chosen](params["models"][chosen])
    return fit_pipeline(pipe, train[FEATURES], _target(train["Sales"], "log1p"),
                        log_every=params.get("log_every", 100), label=f"{chosen} (refit, all data)")


def build_forecaster(final_model: Pipeline, feature_context: FeatureContext,
                     feature_context_validation: FeatureContext, interval: ConformalLogInterval,
                     metrics_doc: dict[str, Any], chosen: str,
                     params: dict[str, Any]) -> TreeForecaster:
    """Package everything serving needs into the versioned `tree_forecaster`."""
    refit = bool(params.get("refit_on_full_data", True))
    context = feature_context if refit else feature_context_validation
    chosen_metrics = metrics_doc["models"][chosen]
    forecaster = TreeForecaster(
        context=context, pipeline=final_model, interval=interval, target="log1p",
        metadata={
            "estimator": chosen,
            "refit_on_full_data": refit,
            "metrics": {k: chosen_metrics[k] for k in mx.METRICS},
            "validation_window": metrics_doc["validation_window"],
            "coverage": metrics_doc["intervals"]["coverage"],
            "model_params": params["models"][chosen],
        },
    )
    logger.info("Built %r", forecaster)
    return forecaster


def predict_test(tree_forecaster: TreeForecaster,
                 test_clean: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaggle submission (Id, Sales) and predictions with intervals for test.csv, through
    `TreeForecaster.predict` -- the very call the gRPC server makes."""
    t0 = time.perf_counter()
    pred = tree_forecaster.predict(test_clean)
    # the forecaster scores with a numpy fast path; prove it equals the sklearn Pipeline
    diff = tree_forecaster.check_fast_path(test_clean)
    if diff > 1e-6:
        raise RuntimeError(f"fast scoring path differs from Pipeline.predict by {diff:.2e}")
    logger.info("Fast scoring path = Pipeline.predict (max relative difference %.1e)", diff)
    return scoring_outputs(test_clean, pred, t0, "tree")
