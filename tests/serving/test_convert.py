"""Request validation and conversion, without a network: every bad input is refused with a
message that names the row and the field; good rows become the Forecaster's frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grpc_server.convert import (
    SMALL_BATCH,
    _parse_dates,
    _parse_dates_small,
    predictions_to_response,
    rows_to_frame,
)
from grpc_server.errors import InvalidArgument, ResourceExhausted
from rossmann.v1 import forecast_pb2 as pb
from rossmann_kedro.forecaster import REQUEST_COLUMNS

KNOWN = np.arange(1, 13, dtype=np.int64)


def row(**kw) -> pb.StoreDay:
    base = dict(store=1, date="2015-08-01", promo=True, state_holiday="0", school_holiday=False)
    base.update(kw)
    return pb.StoreDay(**base)


def test_good_rows_become_the_forecaster_frame() -> None:
    rows = [row(id=7), row(store=2, date="2015-08-03", day_of_week=1, open=False,
                          promo=False, state_holiday="a", school_holiday=True)]
    conv = rows_to_frame(rows, KNOWN, max_rows=10)
    f = conv.frame
    assert list(f.columns) == list(REQUEST_COLUMNS)
    assert f["Store"].tolist() == [1, 2]
    assert f["DayOfWeek"].tolist() == [6, 1]  # 2015-08-01 is a Saturday; derived when 0
    assert f["Date"].dtype == "datetime64[ns]"
    assert f["Date"].tolist() == [pd.Timestamp("2015-08-01"), pd.Timestamp("2015-08-03")]
    assert f["Open"].tolist() == [1, 0]  # missing open = open
    assert f["Promo"].tolist() == [1, 0]
    assert f["StateHoliday"].tolist() == ["0", "a"]
    assert f["SchoolHoliday"].tolist() == [0, 1]
    for col in ("Store", "DayOfWeek", "Open", "Promo", "SchoolHoliday"):
        assert f[col].dtype == np.int64
    assert conv.ids == [7, None]
    assert conv.dates == ["2015-08-01", "2015-08-03"]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (dict(store=99), "rows[1].store: unknown store 99"),
        (dict(store=-3), "rows[1].store: unknown store -3"),
        (dict(store=0), "rows[1].store: missing"),
        (dict(date=""), "rows[1].date: missing"),
        (dict(date="2015-8-1"), "rows[1].date: '2015-8-1' is not a date in YYYY-MM-DD form"),
        (dict(date="2015/08/01"), "rows[1].date: '2015/08/01' is not a date"),
        (dict(date="01-08-2015"), "rows[1].date: '01-08-2015' is not a date"),
        (dict(date="2015-08-01T00:00"), "rows[1].date: '2015-08-01T00:00' is not a date"),
        (dict(date="２０１５-08-01"), "rows[1].date"),
        (dict(date="2015-02-29"), "rows[1].date: '2015-02-29' is not a valid calendar date"),
        (dict(date="2015-13-01"), "rows[1].date: '2015-13-01' is not a valid calendar date"),
        (dict(date="2015-04-31"), "rows[1].date: '2015-04-31' is not a valid calendar date"),
        (dict(date="2015-00-10"), "rows[1].date: '2015-00-10' is not a valid calendar date"),
        (dict(date="0000-01-01"), "rows[1].date: '0000-01-01' is not a valid calendar date"),
        (dict(date=" 2015-08-1"), "rows[1].date: ' 2015-08-1' is not a date"),
        (dict(day_of_week=3), "rows[1].day_of_week: 3 contradicts date 2015-08-01, which is a "
                              "Saturday (6)"),
        (dict(day_of_week=9), "rows[1].day_of_week: 9 is not in 1..7"),
        (dict(day_of_week=-1), "rows[1].day_of_week: -1 is not in 1..7"),
        (dict(state_holiday="x"), "rows[1].state_holiday: 'x' is not one of '0', 'a', 'b', 'c'"),
        (dict(state_holiday="A"), "rows[1].state_holiday: 'A' is not one of"),
        (dict(state_holiday=""), "rows[1].state_holiday: missing"),
        # beyond what datetime64[ns] holds: these used to wrap around and get a forecast
        (dict(date="2600-03-01"), "rows[1].date: '2600-03-01' is outside the dates a forecast "
                                  "can be made for (1678-01-01..2261-12-31)"),
        (dict(date="1431-01-01"), "rows[1].date: '1431-01-01' is outside"),
        (dict(date="9999-12-31"), "rows[1].date: '9999-12-31' is outside"),
        (dict(date="0001-01-01"), "rows[1].date: '0001-01-01' is outside"),
        (dict(date="1677-12-31"), "rows[1].date: '1677-12-31' is outside"),
        (dict(date="2262-01-01"), "rows[1].date: '2262-01-01' is outside"),
    ],
)
@pytest.mark.parametrize("n_rows", [3, SMALL_BATCH + 5], ids=["small", "vectorised"])
def test_each_bad_field_is_named_with_its_row(bad: dict, expected: str, n_rows: int) -> None:
    rows = [row() for _ in range(n_rows)]
    rows[1] = row(**bad)
    with pytest.raises(InvalidArgument) as err:
        rows_to_frame(rows, KNOWN, max_rows=100)
    assert expected in err.value.message
    assert "rows[0]" not in err.value.message and "rows[2]" not in err.value.message


def test_many_errors_are_summarised_in_row_order() -> None:
    rows = [row(store=99) for _ in range(20)] + [row(date="x")]
    with pytest.raises(InvalidArgument) as err:
        rows_to_frame(rows, KNOWN, max_rows=100)
    msg = err.value.message
    assert msg.count("unknown store") == 5 and "21 of 21 rows invalid" in msg
    assert msg.index("rows[0]") < msg.index("rows[1]")


def test_leap_day_is_a_valid_date() -> None:
    conv = rows_to_frame([row(date="2016-02-29"), row(date="2000-02-29")], KNOWN, 10)
    assert conv.frame["DayOfWeek"].tolist() == [1, 2]


def test_empty_and_oversized_batches() -> None:
    with pytest.raises(InvalidArgument, match="rows: empty"):
        rows_to_frame([], KNOWN, max_rows=10)
    with pytest.raises(ResourceExhausted, match="11 rows exceed .* limit of 10"):
        rows_to_frame([row()] * 11, KNOWN, max_rows=10)


def test_both_date_parsers_agree_with_pandas() -> None:
    days = pd.date_range("1899-12-25", "2101-01-05", freq="D")
    sample = days[::7].strftime("%Y-%m-%d").tolist() + ["2015-08-01", "2100-02-28"]
    parsed, malformed, impossible = _parse_dates(sample)
    assert not malformed.any() and not impossible.any()
    assert (parsed.astype("datetime64[ns]") == pd.to_datetime(sample).to_numpy()).all()
    derived = (parsed.astype(np.int64) + 3) % 7 + 1
    assert (derived == pd.to_datetime(sample).day_of_week.to_numpy() + 1).all()
    small = [_parse_dates_small(sample[i:i + 10]) for i in range(0, len(sample), 10)]
    assert (np.concatenate([s[0] for s in small]) == parsed).all()


def test_response_echoes_ids_stores_and_dates_in_order() -> None:
    conv = rows_to_frame([row(store=3, id=5), row(store=1, date="2015-08-02")], KNOWN, 10)
    predicted = pd.DataFrame({"Sales": [10.0, 0.0], "lower": [8.0, 0.0], "upper": [12.0, 0.0]})
    resp = predictions_to_response("tree", "v1", conv, predicted)
    assert (resp.model, resp.version) == ("tree", "v1")
    p0, p1 = resp.predictions
    assert (p0.id, p0.store, p0.date, p0.sales, p0.lower, p0.upper) == (
        5, 3, "2015-08-01", 10.0, 8.0, 12.0)
    assert not p1.HasField("id") and p1.store == 1 and p1.date == "2015-08-02"
    with pytest.raises(RuntimeError, match="expected 2 rows"):
        predictions_to_response("tree", "v1", conv, predicted.iloc[:1])


@pytest.mark.parametrize("n_rows", [1, SMALL_BATCH + 5])
def test_the_representable_date_range_converts_exactly(n_rows: int) -> None:
    rows = [row(date="1678-01-01")] * (n_rows - 1) + [row(date="2261-12-31")]
    frame = rows_to_frame(rows, KNOWN, max_rows=100).frame
    assert frame["Date"].iloc[-1] == pd.Timestamp("2261-12-31")
    assert frame["Date"].iloc[0] == pd.Timestamp("1678-01-01" if n_rows > 1 else "2261-12-31")


def test_a_non_finite_prediction_is_an_internal_error_never_an_answer() -> None:
    from grpc_server.errors import Internal

    conv = rows_to_frame([row(id=1), row(store=2), row(store=3)], KNOWN, max_rows=10)
    for bad in (np.nan, np.inf, -np.inf):
        values = np.array([[10.0, 9.0, 11.0], [20.0, 18.0, 22.0], [30.0, 27.0, bad]])
        with pytest.raises(Internal, match=r"non-finite .* for 1 of 3 rows \(first rows\[2\]\)"):
            predictions_to_response("tree", "v1", conv, values)
        frame = pd.DataFrame(values, columns=["Sales", "lower", "upper"])
        with pytest.raises(Internal):
            predictions_to_response("tree", "v1", conv, frame)
