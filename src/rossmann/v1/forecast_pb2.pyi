from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoreDay(_message.Message):
    __slots__ = ("store", "date", "day_of_week", "open", "promo", "state_holiday", "school_holiday", "id")
    STORE_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    DAY_OF_WEEK_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    PROMO_FIELD_NUMBER: _ClassVar[int]
    STATE_HOLIDAY_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_HOLIDAY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    store: int
    date: str
    day_of_week: int
    open: bool
    promo: bool
    state_holiday: str
    school_holiday: bool
    id: int
    def __init__(self, store: _Optional[int] = ..., date: _Optional[str] = ..., day_of_week: _Optional[int] = ..., open: _Optional[bool] = ..., promo: _Optional[bool] = ..., state_holiday: _Optional[str] = ..., school_holiday: _Optional[bool] = ..., id: _Optional[int] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model", "version", "rows")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    rows: _containers.RepeatedCompositeFieldContainer[StoreDay]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[StoreDay, _Mapping]]] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("id", "store", "date", "sales", "lower", "upper")
    ID_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    SALES_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    id: int
    store: int
    date: str
    sales: float
    lower: float
    upper: float
    def __init__(self, id: _Optional[int] = ..., store: _Optional[int] = ..., date: _Optional[str] = ..., sales: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model", "version", "predictions")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("rmspe", "rmse", "mae")
    RMSPE_FIELD_NUMBER: _ClassVar[int]
    RMSE_FIELD_NUMBER: _ClassVar[int]
    MAE_FIELD_NUMBER: _ClassVar[int]
    rmspe: float
    rmse: float
    mae: float
    def __init__(self, rmspe: _Optional[float] = ..., rmse: _Optional[float] = ..., mae: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "status", "trained_at", "train_start", "train_end", "metrics", "interval_level", "feature_names", "versions_on_disk", "dataset", "error", "n_stores", "loaded_at", "backtest")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[ModelInfo.Status]
        LOADING: _ClassVar[ModelInfo.Status]
        SERVING: _ClassVar[ModelInfo.Status]
        FAILED: _ClassVar[ModelInfo.Status]
    STATUS_UNSPECIFIED: ModelInfo.Status
    LOADING: ModelInfo.Status
    SERVING: ModelInfo.Status
    FAILED: ModelInfo.Status
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRAINED_AT_FIELD_NUMBER: _ClassVar[int]
    TRAIN_START_FIELD_NUMBER: _ClassVar[int]
    TRAIN_END_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_LEVEL_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_ON_DISK_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    N_STORES_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    status: ModelInfo.Status
    trained_at: str
    train_start: str
    train_end: str
    metrics: Metrics
    interval_level: float
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    versions_on_disk: _containers.RepeatedScalarFieldContainer[str]
    dataset: str
    error: str
    n_stores: int
    loaded_at: str
    backtest: Backtest
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., status: _Optional[_Union[ModelInfo.Status, str]] = ..., trained_at: _Optional[str] = ..., train_start: _Optional[str] = ..., train_end: _Optional[str] = ..., metrics: _Optional[_Union[Metrics, _Mapping]] = ..., interval_level: _Optional[float] = ..., feature_names: _Optional[_Iterable[str]] = ..., versions_on_disk: _Optional[_Iterable[str]] = ..., dataset: _Optional[str] = ..., error: _Optional[str] = ..., n_stores: _Optional[int] = ..., loaded_at: _Optional[str] = ..., backtest: _Optional[_Union[Backtest, _Mapping]] = ...) -> None: ...

class IntervalCoverage(_message.Message):
    __slots__ = ("level", "coverage", "mean_relative_width", "coverage_by_week")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MEAN_RELATIVE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_BY_WEEK_FIELD_NUMBER: _ClassVar[int]
    level: float
    coverage: float
    mean_relative_width: float
    coverage_by_week: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, level: _Optional[float] = ..., coverage: _Optional[float] = ..., mean_relative_width: _Optional[float] = ..., coverage_by_week: _Optional[_Iterable[float]] = ...) -> None: ...

class Backtest(_message.Message):
    __slots__ = ("fold_origins", "horizon_days", "chosen", "mean_rmspe", "std_rmspe", "fold_rmspe", "bias_factor", "intervals", "event_weights")
    class EventWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FOLD_ORIGINS_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    MEAN_RMSPE_FIELD_NUMBER: _ClassVar[int]
    STD_RMSPE_FIELD_NUMBER: _ClassVar[int]
    FOLD_RMSPE_FIELD_NUMBER: _ClassVar[int]
    BIAS_FACTOR_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    EVENT_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    fold_origins: _containers.RepeatedScalarFieldContainer[str]
    horizon_days: int
    chosen: str
    mean_rmspe: float
    std_rmspe: float
    fold_rmspe: _containers.RepeatedScalarFieldContainer[float]
    bias_factor: float
    intervals: _containers.RepeatedCompositeFieldContainer[IntervalCoverage]
    event_weights: _containers.ScalarMap[str, float]
    def __init__(self, fold_origins: _Optional[_Iterable[str]] = ..., horizon_days: _Optional[int] = ..., chosen: _Optional[str] = ..., mean_rmspe: _Optional[float] = ..., std_rmspe: _Optional[float] = ..., fold_rmspe: _Optional[_Iterable[float]] = ..., bias_factor: _Optional[float] = ..., intervals: _Optional[_Iterable[_Union[IntervalCoverage, _Mapping]]] = ..., event_weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class StoreInfo(_message.Message):
    __slots__ = ("store", "store_type", "assortment", "competition_distance", "competition_open_since", "promo2", "promo2_since", "promo_interval", "history_end")
    STORE_FIELD_NUMBER: _ClassVar[int]
    STORE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ASSORTMENT_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_OPEN_SINCE_FIELD_NUMBER: _ClassVar[int]
    PROMO2_FIELD_NUMBER: _ClassVar[int]
    PROMO2_SINCE_FIELD_NUMBER: _ClassVar[int]
    PROMO_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    HISTORY_END_FIELD_NUMBER: _ClassVar[int]
    store: int
    store_type: str
    assortment: str
    competition_distance: float
    competition_open_since: str
    promo2: bool
    promo2_since: str
    promo_interval: str
    history_end: str
    def __init__(self, store: _Optional[int] = ..., store_type: _Optional[str] = ..., assortment: _Optional[str] = ..., competition_distance: _Optional[float] = ..., competition_open_since: _Optional[str] = ..., promo2: _Optional[bool] = ..., promo2_since: _Optional[str] = ..., promo_interval: _Optional[str] = ..., history_end: _Optional[str] = ...) -> None: ...

class ListStoresRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStoresResponse(_message.Message):
    __slots__ = ("stores",)
    STORES_FIELD_NUMBER: _ClassVar[int]
    stores: _containers.RepeatedCompositeFieldContainer[StoreInfo]
    def __init__(self, stores: _Optional[_Iterable[_Union[StoreInfo, _Mapping]]] = ...) -> None: ...

class ForecastStoreRequest(_message.Message):
    __slots__ = ("store", "days", "model", "version", "history_days")
    STORE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_DAYS_FIELD_NUMBER: _ClassVar[int]
    store: int
    days: int
    model: str
    version: str
    history_days: int
    def __init__(self, store: _Optional[int] = ..., days: _Optional[int] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., history_days: _Optional[int] = ...) -> None: ...

class HistoryDay(_message.Message):
    __slots__ = ("date", "sales", "open", "promo", "state_holiday", "school_holiday")
    DATE_FIELD_NUMBER: _ClassVar[int]
    SALES_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    PROMO_FIELD_NUMBER: _ClassVar[int]
    STATE_HOLIDAY_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_HOLIDAY_FIELD_NUMBER: _ClassVar[int]
    date: str
    sales: float
    open: bool
    promo: bool
    state_holiday: str
    school_holiday: bool
    def __init__(self, date: _Optional[str] = ..., sales: _Optional[float] = ..., open: _Optional[bool] = ..., promo: _Optional[bool] = ..., state_holiday: _Optional[str] = ..., school_holiday: _Optional[bool] = ...) -> None: ...

class ForecastDay(_message.Message):
    __slots__ = ("date", "open", "promo", "state_holiday", "school_holiday", "source", "sales", "lower", "upper")
    DATE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    PROMO_FIELD_NUMBER: _ClassVar[int]
    STATE_HOLIDAY_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_HOLIDAY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SALES_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    date: str
    open: bool
    promo: bool
    state_holiday: str
    school_holiday: bool
    source: str
    sales: float
    lower: float
    upper: float
    def __init__(self, date: _Optional[str] = ..., open: _Optional[bool] = ..., promo: _Optional[bool] = ..., state_holiday: _Optional[str] = ..., school_holiday: _Optional[bool] = ..., source: _Optional[str] = ..., sales: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ...) -> None: ...

class ForecastStoreResponse(_message.Message):
    __slots__ = ("model", "version", "store", "history", "forecast", "interval_level", "rows_from_test", "rows_from_rules")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ROWS_FROM_TEST_FIELD_NUMBER: _ClassVar[int]
    ROWS_FROM_RULES_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    store: StoreInfo
    history: _containers.RepeatedCompositeFieldContainer[HistoryDay]
    forecast: _containers.RepeatedCompositeFieldContainer[ForecastDay]
    interval_level: float
    rows_from_test: int
    rows_from_rules: int
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., store: _Optional[_Union[StoreInfo, _Mapping]] = ..., history: _Optional[_Iterable[_Union[HistoryDay, _Mapping]]] = ..., forecast: _Optional[_Iterable[_Union[ForecastDay, _Mapping]]] = ..., interval_level: _Optional[float] = ..., rows_from_test: _Optional[int] = ..., rows_from_rules: _Optional[int] = ...) -> None: ...
