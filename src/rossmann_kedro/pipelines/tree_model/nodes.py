"""Nodes of the tree_model pipeline: train the candidate or ensemble the backtest chose on all
history, package it with the backtest's interval calibration as the served forecaster, explain
it and score test.csv through it.

Nothing here decides anything: the choice of model, the ensemble weights, the event and bias
corrections and the intervals all come from the backtest's out-of-sample folds
(`backtest_selection`, `backtest_interval_calibration`), so a model refitted on all data never
gets in-sample bands.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from rossmann_kedro.features import FeatureContext
from rossmann_kedro.models.batch import scoring_outputs
from rossmann_kedro.models.candidates import (
    candidate_specs,
    origin_training_rows,
    recency_weights,
    trainable_rows,
)
from rossmann_kedro.models.intervals import HorizonConformalInterval
from rossmann_kedro.models.tree import TreeForecaster, member_features
from rossmann_kedro.pipelines.tree_model.config import TreeModelConfig

logger = logging.getLogger(__name__)


def train_members(model_input_origins: pd.DataFrame, model_input_full: pd.DataFrame,
                  backtest_selection: dict[str, Any],
                  params: TreeModelConfig) -> dict[str, Pipeline]:
    """Fit every member of the chosen model on all history, laid out as the candidate says
    (origin frame, or every open day with the full context's features)."""
    specs = candidate_specs(params)
    members = backtest_selection["members"]
    unknown = set(members) - set(specs)
    if unknown:
        raise ValueError(f"backtest_selection names candidates {sorted(unknown)} that "
                         "parameters_tree_model.yml no longer defines: re-run the backtest")
    drop = bool(params["drop_outliers"])
    fitted = {}
    for name in members:
        spec = specs[name]
        if spec.training == "origins":
            rows = origin_training_rows(model_input_origins, drop,
                                        float(params["origin_row_fraction"]))
        else:
            rows = trainable_rows(model_input_full, drop)
        fitted[name] = spec.fit(rows, rows["Sales"], "all history", int(params["log_every"]),
                                recency_weights(rows["Date"], params["recency_half_life_days"]))
    return fitted


def build_forecaster(members: dict[str, Pipeline], feature_context: FeatureContext,
                     backtest_selection: dict[str, Any],
                     backtest_interval_calibration: HorizonConformalInterval,
                     backtest_summary: dict[str, Any]) -> TreeForecaster:
    """Package everything serving needs into the versioned `tree_forecaster`."""
    weights = backtest_selection["members"]
    names = list(weights)
    forecaster = TreeForecaster(
        context=feature_context, members=[members[n] for n in names],
        weights=[weights[n] for n in names], interval=backtest_interval_calibration,
        log_shift=backtest_selection["log_shift"],
        # a selection saved before event adjustments has none
        event_weights=backtest_selection.get("event_weights"),
        metadata={
            "estimator": backtest_selection["chosen"],
            "members": dict(weights),
            "bias_factor": float(np.exp(backtest_selection["log_shift"])),
            # mean over the backtest folds of the served model's out-of-sample errors
            "metrics": {"rmspe": backtest_summary["mean_rmspe"],
                        "rmse": backtest_summary["mean_rmse"],
                        "mae": backtest_summary["mean_mae"]},
            "coverage": backtest_summary["intervals"]
                        .get(f"{100 * backtest_interval_calibration.level:.0f}", {})
                        .get("coverage"),
            "backtest": backtest_summary,
        },
    )
    logger.info("Built %r", forecaster)
    return forecaster


def feature_importance(tree_forecaster: TreeForecaster):
    """Gain importance of the served members (weighted by their ensemble weight), as a table
    and a plot."""
    rows = []
    for w, pipe in zip(tree_forecaster.weights, tree_forecaster.members, strict=False):
        model = pipe.named_steps["model"]
        names = member_features(pipe)
        if hasattr(model, "get_booster"):
            raw = model.get_booster().get_score(importance_type="gain")
            gain = {names[int(k[1:])] if k.startswith("f") and k[1:].isdigit() else k: v
                    for k, v in raw.items()}
        else:
            gain = dict(zip(names, model.feature_importances_, strict=False))
        total = sum(gain.values()) or 1.0
        rows += [{"feature": f, "gain_share": w * g / total} for f, g in gain.items()]
    table = (pd.DataFrame(rows).groupby("feature", as_index=False)["gain_share"].sum()
             .sort_values("gain_share", ascending=False).reset_index(drop=True))
    logger.info("Top features by gain: %s", list(table["feature"][:8]))
    return table, _importance_figure(table)


def _importance_figure(table: pd.DataFrame, top: int = 30):
    import plotly.graph_objects as go

    t = table.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=t["gain_share"], y=t["feature"], orientation="h"))
    fig.update_layout(title="Served tree model: feature importance (gain share)", height=800,
                      width=900)
    return fig


def model_metrics(backtest_summary: dict[str, Any], backtest_selection: dict[str, Any],
                  tree_forecaster: TreeForecaster) -> dict[str, Any]:
    """The versioned metrics document of this training run: the backtest figures it was chosen
    on, and what was trained."""
    return {
        "version_trained_at": tree_forecaster.metadata["trained_at"],
        "train_start": tree_forecaster.metadata["train_start"],
        "train_end": tree_forecaster.metadata["train_end"],
        "chosen": backtest_selection["chosen"],
        "members": backtest_selection["members"],
        "bias": backtest_selection["bias"],
        "events": backtest_selection.get("events"),
        "backtest": backtest_summary,
        "candidates": backtest_selection["scores"],
    }


def predict_test(tree_forecaster: TreeForecaster,
                 test_clean: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaggle submission (Id, Sales) and predictions with intervals for test.csv, through
    `TreeForecaster.predict` -- the very call the gRPC server makes."""
    t0 = time.perf_counter()
    pred = tree_forecaster.predict(test_clean)
    # the forecaster scores with a numpy fast path; prove it equals the sklearn Pipelines
    diff = tree_forecaster.check_fast_path(test_clean)
    if diff > 1e-6:
        raise RuntimeError(f"fast scoring path differs from Pipeline.predict by {diff:.2e}")
    logger.info("Fast scoring path = Pipeline.predict (max relative difference %.1e)", diff)
    return scoring_outputs(test_clean, pred, t0, "tree")
