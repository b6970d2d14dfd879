"""Settings of feature_engineering (`feature_engineering:` in
parameters_feature_engineering.yml)."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from rossmann_kedro.config import Config


class ContextConfig(Config):
    """What `FeatureContext.fit` reads (`rossmann_kedro.features.context.SETTINGS`)."""

    holiday_cap_days: PositiveInt
    yearly_cap_days: PositiveInt
    promo_cap_days: PositiveInt
    recent_weeks: PositiveInt
    calendar_margin_days: PositiveInt
    calendar_horizon_days: PositiveInt
    reopen_gap_days: PositiveInt
    reopen_cap_days: PositiveInt
    horizon_cap_days: PositiveInt
    outlier_threshold: PositiveFloat


class OriginsConfig(Config):
    """The forecast origins of the origin frame (backtest / training layout)."""

    horizon_days: PositiveInt
    step_days: int = Field(ge=7)   # the backtest tells complete horizons from cut-short ones
    min_history_days: PositiveInt
    max_stores: PositiveInt | None
    seed: NonNegativeInt


class FeatureEngineeringConfig(Config):
    validation_weeks: PositiveInt
    origins: OriginsConfig
    context: ContextConfig
