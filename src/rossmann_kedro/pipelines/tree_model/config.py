"""Settings of tree_model (`tree_model:` in parameters_tree_model.yml), also read by the
backtest, which scores the same candidates. Each candidate's estimator parameters are passed to
the estimator as they are; `rossmann_kedro.models.candidates.CandidateSpec` checks the rest."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, confloat

from rossmann_kedro.config import Config


class CandidateConfig(Config):
    family: Literal["xgboost", "random_forest"]
    features: Literal["legacy", "all"]
    training: Literal["origins", "one_window"]
    params: dict[str, Any]


class TreeIntervalsConfig(Config):
    level: confloat(gt=0, lt=1)


class TreeModelConfig(Config):
    serve_model: str
    drop_outliers: bool
    log_every: NonNegativeInt
    origin_row_fraction: confloat(gt=0, le=1)
    recency_half_life_days: PositiveFloat | None
    candidates: dict[str, CandidateConfig]
    ensembles: dict[str, dict[str, NonNegativeFloat]]
    intervals: TreeIntervalsConfig
