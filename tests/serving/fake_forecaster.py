"""Tiny Forecasters for serving tests: fast, deterministic, picklable by module path (so server
subprocesses can load them), plus deliberately broken ones for the reload tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rossmann_kedro.forecaster import RowError


class FakeForecaster:
    """Sales = scale * (100 * Store + DayOfWeek) * (1 + Promo) on open days, a +-10% interval."""

    def __init__(self, stores: range | list[int] = range(1, 13), scale: float = 1.0,
                 name: str = "tree") -> None:
        self.name = name
        self.stores = frozenset(int(s) for s in stores)
        self.scale = scale
        self.metadata: dict[str, Any] = {
            "name": name, "trained_at": "2025-01-01T00:00:00+00:00",
            "train_start": "2013-01-01", "train_end": "2015-07-31",
            "metrics": {"rmspe": 0.1, "rmse": 500.0, "mae": 300.0},
            "interval_level": 0.8, "feature_names": ["Store", "DayOfWeek", "Promo"],
            "scale": scale,
        }

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        base = (100.0 * rows["Store"].to_numpy() + rows["DayOfWeek"].to_numpy())
        sales = self.scale * base * (1 + rows["Promo"].to_numpy()) * rows["Open"].to_numpy()
        return pd.DataFrame(
            {"Sales": sales, "lower": 0.9 * sales, "upper": 1.1 * sales}, index=rows.index
        )


class NaNForecaster(FakeForecaster):
    """Loads fine, predicts garbage: validation must refuse it."""

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = super().predict(rows)
        out["Sales"] = np.nan
        return out


class SlowForecaster(FakeForecaster):
    """Takes `delay` seconds per request (validation is not delayed): for drain / in-flight
    tests. With `started_dir`, each request's predict call first leaves a file
    `<n_rows>-<unique>` there, so a test in another process knows the call is in flight."""

    def __init__(self, *args: Any, delay: float = 0.5, started_dir: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.started_dir = started_dir

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        import time
        import uuid
        from pathlib import Path

        if len(rows) != self._validation_rows():
            if self.started_dir:
                (Path(self.started_dir) / f"{len(rows)}-{uuid.uuid4().hex}").touch()
            time.sleep(self.delay)
        return super().predict(rows)

    def _validation_rows(self) -> int:
        from grpc_server.registry import VALIDATION_DAYS

        return len(self.stores) * len(VALIDATION_DAYS) * 3


VALIDATION_ROWS = 100  # load-time validation predicts more rows than any test request sends


class BuggyForecaster(FakeForecaster):
    """Passes load-time validation, then fails requests on some stores: 5 -> a bug
    (RuntimeError), 6 -> its own input check (ValueError)."""

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        if len(rows) >= VALIDATION_ROWS:
            return super().predict(rows)
        if (rows["Store"] == 5).any():
            raise RuntimeError("boom")
        if (rows["Store"] == 6).any():
            raise RowError(0, "Date", "Date 2031-01-01 outside 2012-01-01..2018-06-01")
        return super().predict(rows)


class NaNIntervalForecaster(FakeForecaster):
    """Fine for most stores, `upper` NaN for the last one (a few stores' calibration failed):
    only a validation that tries every store catches it."""

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = super().predict(rows)
        out.loc[rows["Store"].to_numpy() == max(self.stores), "upper"] = np.nan
        return out


class ShortHorizonForecaster(FakeForecaster):
    """Refuses dates more than `days` after its training ends (train_end 2015-07-31)."""

    def __init__(self, *args: Any, days: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.days = days

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        last = pd.Timestamp("2015-07-31") + pd.Timedelta(days=self.days)
        late = np.flatnonzero((rows["Date"] > last).to_numpy())
        if late.size:
            raise RowError(int(late[0]), "Date",
                           f"Date {rows['Date'].iat[late[0]].date()} is after {last.date()}")
        return super().predict(rows)


class InfOnceForecaster(FakeForecaster):
    """Validates fine, then predicts +inf for store 3: the server must not answer OK."""

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = super().predict(rows)
        if len(rows) < VALIDATION_ROWS:  # requests, not the load-time validation batch
            out.loc[rows["Store"].to_numpy() == 3, "Sales"] = np.inf
        return out
