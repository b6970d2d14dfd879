"""Settings of monitoring (`monitoring:` in parameters_monitoring.yml); one block per node."""

from __future__ import annotations

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt, confloat

from rossmann_kedro.config import Config


class DriftConfig(Config):
    reference_weeks: PositiveInt
    horizon_days: PositiveInt
    psi_threshold: PositiveFloat
    p_value: confloat(gt=0, lt=1)
    min_rows: NonNegativeInt
    since: str | None


class AccuracyConfig(Config):
    since: str | None
    worst_stores: PositiveInt
