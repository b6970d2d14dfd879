"""Settings of eda (`eda:` in parameters_eda.yml); each node gets its own sub-block."""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeInt, PositiveInt

from rossmann_kedro.config import Config


class TradingDaysConfig(Config):
    min_sales: NonNegativeInt
    drop_outliers: bool


class PromoTrainTestConfig(Config):
    max_cramers_v_similar: float


class HolidaysConfig(Config):
    window_days: PositiveInt
    state_holiday_labels: dict[str, str]


class SeasonalityConfig(Config):
    christmas_week_days: tuple[int, int]
    baseline_month: int
    easter_days_before: tuple[int, int]
    easter_baseline_days_before: tuple[int, int]


class PromoConfig(Config):
    min_days_per_cell: PositiveInt
    top_n_stores: PositiveInt


class ClosuresConfig(Config):
    min_closed_days: PositiveInt
    window_days: PositiveInt
    all_week_min_sunday_share: float


class CustomersSalesConfig(Config):
    sample_size: PositiveInt
    seed: int
    hist_bins: PositiveInt


class CompetitionConfig(Config):
    window_days: PositiveInt
    distance_bins_m: list[float]
    city_centre_max_distance_m: float


class CorrelationConfig(Config):
    method: Literal["pearson", "spearman", "kendall"]


class DistributionsConfig(Config):
    factors: list[str]
    hist_bins: PositiveInt


class ReportConfig(Config):
    title: str
    figure_dir: str


class EdaConfig(Config):
    trading_days: TradingDaysConfig
    promo_train_test: PromoTrainTestConfig
    holidays: HolidaysConfig
    seasonality: SeasonalityConfig
    promo: PromoConfig
    closures: ClosuresConfig
    customers_sales: CustomersSalesConfig
    competition: CompetitionConfig
    correlation: CorrelationConfig
    distributions: DistributionsConfig
    report: ReportConfig
