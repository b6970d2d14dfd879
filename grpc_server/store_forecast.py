"""ForecastStore / ListStores: one store's history and its forecast for the days after the data
ends, as the explorer page shows them. Future rows come from test.csv where it has them, else
from the served model's feature calendar (`rossmann_kedro.features.future.calendar_rows`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grpc_server.convert import ConvertedRows, forecast_values, rows_to_frame
from grpc_server.errors import FailedPrecondition, InvalidArgument, NotFound
from grpc_server.registry import LoadedModel, ModelRegistry
from grpc_server.store_data import StoreData, habitual_open
from rossmann.v1 import forecast_pb2
from rossmann_kedro.features.future import calendar_rows

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 42
DEFAULT_HISTORY_DAYS = 182
SOURCE_TEST, SOURCE_RULES = "test.csv", "calendar rules"


@dataclass(frozen=True)
class StoreForecast:
    response: forecast_pb2.ForecastStoreResponse
    loaded: LoadedModel
    converted: ConvertedRows
    values: np.ndarray


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def store_info(store: int, row: pd.Series, history_end: str) -> forecast_pb2.StoreInfo:
    year = int(row.get("CompetitionOpenSinceYear", 0) or 0)
    month = int(row.get("CompetitionOpenSinceMonth", 0) or 0)
    p2y, p2w = int(row.get("Promo2SinceYear", 0) or 0), int(row.get("Promo2SinceWeek", 0) or 0)
    dist = row.get("CompetitionDistance", float("nan"))
    if bool(row.get("CompetitionDistanceMissing", 0)):
        dist = float("nan")
    return forecast_pb2.StoreInfo(
        store=store, store_type=_text(row.get("StoreType")), assortment=_text(row.get("Assortment")),
        competition_distance=float(dist) if dist is not None else float("nan"),
        competition_open_since=f"{year:04d}-{month:02d}" if year > 0 and month > 0 else "",
        promo2=bool(row.get("Promo2", 0)),
        promo2_since=f"{p2y:04d}-W{p2w:02d}" if p2y > 0 else "",
        promo_interval=_text(row.get("PromoInterval")), history_end=history_end,
    )


def list_stores(store_data: StoreData) -> forecast_pb2.ListStoresResponse:
    tables = store_data.tables()
    end = str(tables.history_end)
    return forecast_pb2.ListStoresResponse(
        stores=[store_info(int(s), row, end) for s, row in tables.stores.iterrows()])


def check_request(request: forecast_pb2.ForecastStoreRequest, max_days: int) -> tuple[int, int]:
    """(days, history_days) of a request, or InvalidArgument."""
    days = request.days if request.HasField("days") else DEFAULT_DAYS
    if not 1 <= days <= max_days:
        raise InvalidArgument(f"days: {days} is not in 1..{max_days} (days to forecast after "
                              "the store's history ends)")
    history = request.history_days if request.HasField("history_days") else DEFAULT_HISTORY_DAYS
    if history < 0:
        raise InvalidArgument(f"history_days: {history} is negative (0 = no history)")
    if request.store <= 0:
        raise InvalidArgument(f"store: {request.store} is not a store id (ids start at 1)")
    return days, history


def future_rows(store_data: StoreData, loaded: LoadedModel, store: int,
                days: int) -> tuple[pd.DataFrame, list[str]]:
    """The request rows for the `days` days after the history ends, and each row's source."""
    tables = store_data.tables()
    start = pd.Timestamp(tables.history_end) + pd.Timedelta(days=1)
    dates = pd.date_range(start, periods=days, freq="D")
    rows = pd.DataFrame({"Store": store, "Date": dates})
    known = pd.DataFrame()
    if len(tables.future) and store in tables.future.index.get_level_values(0):
        known = tables.future.loc[store].reindex(dates)
    from_test = (known["Open"].notna().to_numpy() if len(known) else np.zeros(days, dtype=bool))
    if not from_test.all():
        context = getattr(loaded.forecaster, "context", None)
        if context is None:
            raise FailedPrecondition(
                f"model {loaded.name!r} ({loaded.version}) has no feature calendar to build rows "
                f"for days test.csv does not cover; ask for fewer days")
        try:
            rule = calendar_rows(context, store, dates)
        except ValueError as exc:
            raise InvalidArgument(f"days: model {loaded.name!r} cannot build rows: {exc}") from exc
        rule_open = habitual_open(tables.open_habit.get(store, np.ones(8)),
                                  rule["DayOfWeek"].to_numpy(), rule["StateHoliday"].to_numpy())
    for col in ("Promo", "StateHoliday", "SchoolHoliday", "Open"):
        if from_test.all():
            rows[col] = known[col].to_numpy()
            continue
        rule_values = rule_open if col == "Open" else rule[col].to_numpy()
        if len(known):
            rows[col] = np.where(from_test, known[col].to_numpy(dtype=object), rule_values)
        else:
            rows[col] = rule_values
    rows["StateHoliday"] = rows["StateHoliday"].astype(str)
    sources = [SOURCE_TEST if t else SOURCE_RULES for t in from_test]
    return rows, sources


def forecast_store(registry: ModelRegistry, store_data: StoreData,
                   request: forecast_pb2.ForecastStoreRequest, max_days: int) -> StoreForecast:
    """Answer one ForecastStore request; raises ServingError subclasses for refusals."""
    days, history_days = check_request(request, max_days)
    loaded = registry.get(request.model, request.version)
    store_row = store_data.store(request.store)
    if request.store not in loaded.forecaster.stores:
        raise NotFound(f"store: model {loaded.name!r} ({loaded.version}) was not trained on "
                       f"store {request.store}")
    rows, sources = future_rows(store_data, loaded, request.store, days)
    proto_rows = [
        forecast_pb2.StoreDay(store=request.store, date=str(d.date()), open=bool(int(o)),
                              promo=bool(int(p)), state_holiday=str(h),
                              school_holiday=bool(int(s)))
        for d, o, p, h, s in zip(rows["Date"], rows["Open"], rows["Promo"], rows["StateHoliday"],
                                 rows["SchoolHoliday"], strict=True)
    ]
    converted = rows_to_frame(proto_rows, loaded.known_stores, max_rows=max(max_days, 1))
    try:
        values = forecast_values(loaded.forecaster, [converted.columns], len(proto_rows),
                                 f"model {loaded.name}")
    except ValueError as exc:
        raise InvalidArgument(f"days: model {loaded.name!r} ({loaded.version}) cannot forecast "
                              f"store {request.store} on these days: {exc}") from exc
    if not np.isfinite(values).all():
        raise RuntimeError(f"model {loaded.name} {loaded.version} predicted non-finite values")

    tables = store_data.tables()
    hist = tables.history_of(request.store)
    if history_days == 0:
        hist = {k: v[:0] for k, v in hist.items()}
    else:
        since = tables.history_end - np.timedelta64(history_days - 1, "D")
        keep = hist["Date"] >= since
        hist = {k: v[keep] for k, v in hist.items()}
    response = forecast_pb2.ForecastStoreResponse(
        model=loaded.name, version=loaded.version,
        store=store_info(request.store, store_row, str(tables.history_end)),
        interval_level=float((loaded.forecaster.metadata or {}).get("interval_level", 0) or 0),
        rows_from_test=sources.count(SOURCE_TEST), rows_from_rules=sources.count(SOURCE_RULES),
    )
    add_h = response.history.add
    for d, y, o, p, h, s in zip(hist["Date"].astype(str).tolist(), hist["Sales"].tolist(),
                                hist["Open"].tolist(), hist["Promo"].tolist(),
                                hist["StateHoliday"].tolist(), hist["SchoolHoliday"].tolist(),
                                strict=True):
        add_h(date=d, sales=y, open=bool(o), promo=bool(p), state_holiday=h,
              school_holiday=bool(s))
    add_f = response.forecast.add
    for r, src, (y, lo, hi) in zip(proto_rows, sources, values.tolist(), strict=True):
        add_f(date=r.date, open=r.open, promo=r.promo, state_holiday=r.state_holiday,
              school_holiday=r.school_holiday, source=src, sales=y, lower=lo, upper=hi)
    return StoreForecast(response, loaded, converted, values)
