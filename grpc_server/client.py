"""Python client for ForecastService: Kaggle-format frames in, predictions out; plus a small CLI
(`python -m grpc_server client predict --csv data/01_raw/test.csv`, `... client info`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2, health_pb2_grpc

from grpc_server.security import (
    GRPC_TOKEN_ENV,
    TLSFiles,
    add_grpc_client_arguments,
    bearer_metadata,
    channel_credentials,
    read_token,
    tls_files,
)
from rossmann.v1 import forecast_pb2, forecast_pb2_grpc

DEFAULT_TARGET = "127.0.0.1:50051"


def read_kaggle_csv(path: Path | str) -> pd.DataFrame:
    """Read a test.csv-format file (.csv or .csv.gz) keeping StateHoliday as text."""
    return pd.read_csv(path, dtype={"StateHoliday": str}, low_memory=False)


def _int_column(df: pd.DataFrame, col: str, required: bool) -> np.ndarray | None:
    if col not in df.columns:
        if required:
            raise ValueError(f"column {col!r} is missing (need Store, Date, Promo, StateHoliday, "
                             "SchoolHoliday; DayOfWeek, Open, Id optional)")
        return None
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.notna() & (values != values.round())
    if required:
        bad |= values.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"row {i}, column {col}: {df[col].iloc[i]!r} is not an integer")
    return values.to_numpy(dtype=np.float64)


def frame_to_rows(df: pd.DataFrame) -> list[forecast_pb2.StoreDay]:
    """Kaggle test.csv columns -> StoreDay messages (blank Open = missing = open)."""
    store = _int_column(df, "Store", True)
    promo = _int_column(df, "Promo", True)
    school = _int_column(df, "SchoolHoliday", True)
    dow = _int_column(df, "DayOfWeek", False)
    open_ = _int_column(df, "Open", False)
    ids = _int_column(df, "Id", False)
    for col in ("Date", "StateHoliday"):
        if col not in df.columns:
            raise ValueError(f"column {col!r} is missing")
    dates = df["Date"]
    if pd.api.types.is_datetime64_any_dtype(dates):
        dates = dates.dt.strftime("%Y-%m-%d")
    dates = dates.astype(str).tolist()
    holidays = df["StateHoliday"].astype(str).tolist()
    n = len(df)
    none = [None] * n

    def opt(arr: np.ndarray | None, cast) -> list[Any]:
        if arr is None:
            return none
        return [None if v != v else cast(v) for v in arr.tolist()]

    StoreDay = forecast_pb2.StoreDay
    return [
        StoreDay(store=s, date=d, day_of_week=w or 0, open=o, promo=p, state_holiday=h,
                 school_holiday=sh, id=i)
        for s, d, w, o, p, h, sh, i in zip(
            store.astype(np.int64).tolist(), dates, opt(dow, int), opt(open_, bool),
            (promo != 0).tolist(), holidays, (school != 0).tolist(), opt(ids, int), strict=True,
        )
    ]


class ForecastClient:
    """A channel to a ForecastService; use as a context manager or call close()."""

    def __init__(self, target: str = DEFAULT_TARGET, timeout: float = 60.0,
                 max_message_mb: int = 64, tls: TLSFiles | None = None,
                 token: str | None = None) -> None:
        size = max_message_mb * 1024 * 1024
        self.timeout = timeout
        options = [("grpc.max_receive_message_length", size),
                   ("grpc.max_send_message_length", size)]
        self._channel = (grpc.insecure_channel(target, options=options) if tls is None else
                         grpc.secure_channel(target, channel_credentials(tls), options=options))
        self._metadata = bearer_metadata(token)
        self.stub = forecast_pb2_grpc.ForecastServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> ForecastClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def predict(
        self,
        rows: pd.DataFrame | Iterable[Mapping[str, Any]],
        model: str = "tree",
        version: str = "",
        batch_size: int = 50_000,
    ) -> pd.DataFrame:
        """Forecast Kaggle-format rows; returns Id, Store, Date, Sales, lower, upper (and the
        model version in `df.attrs["version"]`), in input order."""
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        messages = frame_to_rows(df)
        parts, version_used = [], ""
        for start in range(0, len(messages), batch_size) or [0]:
            resp = self.stub.Predict(
                forecast_pb2.PredictRequest(model=model, version=version,
                                            rows=messages[start:start + batch_size]),
                timeout=self.timeout, metadata=self._metadata,
            )
            version_used = resp.version
            version = version or resp.version  # all batches from the same version
            parts.append(pd.DataFrame({
                "Id": pd.array([p.id if p.HasField("id") else None for p in resp.predictions],
                               dtype="Int64"),
                "Store": [p.store for p in resp.predictions],
                "Date": [p.date for p in resp.predictions],
                "Sales": [p.sales for p in resp.predictions],
                "lower": [p.lower for p in resp.predictions],
                "upper": [p.upper for p in resp.predictions],
            }))
        out = pd.concat(parts, ignore_index=True)
        out.attrs["model"], out.attrs["version"] = model, version_used
        return out

    def info(self, model: str = "") -> list[dict[str, Any]]:
        resp = self.stub.GetModelInfo(forecast_pb2.GetModelInfoRequest(model=model),
                                      timeout=self.timeout, metadata=self._metadata)
        return [MessageToDict(m, preserving_proto_field_name=True,
                              always_print_fields_with_no_presence=True) for m in resp.models]

    def health(self, service: str = "") -> str:
        resp = self._health.Check(health_pb2.HealthCheckRequest(service=service),
                                  timeout=min(self.timeout, 5.0))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=DEFAULT_TARGET, help="gRPC server host:port")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    add_grpc_client_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("predict", help="forecast the rows of a test.csv-format file, or one row",
                       description="Forecast a test.csv-format file (--csv) or a single store-day "
                       "(--store and --date, plus --promo/--state-holiday/--school-holiday/--closed).")
    _connection_arguments(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="Kaggle test.csv format (.csv/.csv.gz)")
    source.add_argument("--store", type=int, help="one row: the store id")
    p.add_argument("--date", help="one row: the day, YYYY-MM-DD")
    p.add_argument("--promo", action="store_true", help="one row: a promo day")
    p.add_argument("--state-holiday", default="0", choices=["0", "a", "b", "c"],
                   help="one row: state holiday code (0 = none)")
    p.add_argument("--school-holiday", action="store_true", help="one row: a school holiday")
    p.add_argument("--closed", action="store_true", help="one row: the store is closed")
    p.add_argument("--model", default="tree")
    p.add_argument("--version", default="", help="catalog version; default: latest loaded")
    p.add_argument("--out", type=Path, help="write predictions CSV here (default: stdout)")
    p.add_argument("--submission", action="store_true",
                   help="write only Id,Sales (Kaggle submission format)")
    p.add_argument("--batch-size", type=int, default=50_000)
    i = sub.add_parser("info", help="print GetModelInfo as JSON")
    _connection_arguments(i)
    i.add_argument("--model", default="", help="only this model (default: all)")
    _connection_arguments(sub.add_parser("health", help="print the grpc.health.v1 status"))


def single_row(args: argparse.Namespace) -> pd.DataFrame:
    """The one store-day of `predict --store ... --date ...` as a Kaggle-format frame."""
    if args.date is None:
        raise ValueError("--store needs --date YYYY-MM-DD")
    return pd.DataFrame([{
        "Id": 1, "Store": args.store, "Date": args.date, "Open": 0 if args.closed else 1,
        "Promo": int(args.promo), "StateHoliday": args.state_holiday,
        "SchoolHoliday": int(args.school_holiday),
    }])


def run(args: argparse.Namespace) -> int:
    try:
        tls = tls_files(args.tls_cert, args.tls_key, args.tls_ca)
        token = read_token(args.token_file, GRPC_TOKEN_ENV)
        with ForecastClient(args.target, timeout=args.timeout, tls=tls, token=token) as client:
            if args.action == "predict":
                rows = read_kaggle_csv(args.csv) if args.csv else single_row(args)
                preds = client.predict(rows, model=args.model,
                                       version=args.version, batch_size=args.batch_size)
                if args.submission:
                    preds = preds[["Id", "Sales"]]
                preds.to_csv(args.out if args.out else sys.stdout, index=False)
                print(f"{len(preds)} predictions from {preds.attrs['model']} version "
                      f"{preds.attrs['version']}", file=sys.stderr)
            elif args.action == "info":
                print(json.dumps(client.info(args.model), indent=2))
            else:
                print(client.health())
    except grpc.RpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grpc_server client")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
