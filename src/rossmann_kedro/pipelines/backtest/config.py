"""Settings of the backtest (`backtest:` in parameters_backtest.yml)."""

from __future__ import annotations

from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, confloat

from rossmann_kedro.config import Config


class LevelSearchConfig(Config):
    below: confloat(ge=0, lt=0.5)
    above: confloat(ge=0, lt=0.5)
    step: confloat(gt=0, lt=0.1)


class BacktestIntervalsConfig(Config):
    levels: list[confloat(gt=0, lt=1)]
    band_days: PositiveInt
    shrinkage: PositiveFloat
    level_search: LevelSearchConfig | None


class BacktestConfig(Config):
    n_folds: PositiveInt
    models: list[str]
    reference_model: str
    naive_weeks: PositiveInt
    max_stores: PositiveInt | None
    seed: NonNegativeInt
    bias_factors: list[PositiveFloat]
    event_weights: list[NonNegativeFloat]
    intervals: BacktestIntervalsConfig
    top_stores: PositiveInt
