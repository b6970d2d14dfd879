"""Settings of lstm_model (`lstm_model:` in parameters_lstm_model.yml)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from rossmann_kedro.config import Config
from rossmann_kedro.models.lstm import LSTMConfig


class StationarityConfig(Config):
    max_stores: PositiveInt
    adf_maxlag: PositiveInt
    seed: int
    alpha: float = Field(gt=0.0, lt=1.0)
    nlags: PositiveInt


class LSTMModelConfig(LSTMConfig):
    """The network's settings (`LSTMConfig`) plus what the pipeline around it needs."""

    max_stores: PositiveInt | None
    member_processes: PositiveInt  # how the networks are trained, not what: not a network setting
    stationarity: StationarityConfig
