"""Settings of data_processing (`data_processing:` in parameters_data_processing.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveFloat

from rossmann_kedro.config import Config


class StoreFillConfig(Config):
    competition_distance_fill: PositiveFloat


class OutliersConfig(Config):
    threshold: PositiveFloat
    action: Literal["flag", "cap", "drop"]


class DataProcessingConfig(Config):
    store_fill: StoreFillConfig
    outliers: OutliersConfig
