"""The prediction log: what the writer thread appends is what the catalog dataset reads back; a
full queue drops and counts; a full disk or an unwritable folder never fails a prediction, logs
one error and counts the lost records; the parameter switches the log off."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from grpc_server.metrics import ServerMetrics
from grpc_server.prediction_log import PredictionLogWriter
from grpc_server.registry import ModelRegistry, load_project_catalog
from grpc_server.server import ServingConfig, start_server
from rossmann.v1 import forecast_pb2 as pb
from rossmann.v1 import forecast_pb2_grpc as pbg
from rossmann_kedro.datasets.prediction_log import LOG_COLUMNS, PredictionLogDataset
from tests.serving.conftest import FAKE_DATASET, save_version, version_ts
from tests.serving.fake_forecaster import FakeForecaster
from tests.serving.processes import free_port


def columns(stores: list[int], day: str = "2015-08-03") -> dict:
    n = len(stores)
    return {
        "Store": np.array(stores, dtype=np.int64),
        "DayOfWeek": np.full(n, 1, dtype=np.int64),
        "Date": np.full(n, np.datetime64(day, "ns")),
        "Open": np.ones(n, dtype=np.int64), "Promo": np.zeros(n, dtype=np.int64),
        "StateHoliday": ["0"] * n, "SchoolHoliday": np.zeros(n, dtype=np.int64),
    }


def submit(writer: PredictionLogWriter, stores: list[int], ids=None) -> None:
    values = np.array([[100.0 * s, 90.0 * s, 110.0 * s] for s in stores])
    writer.submit("Predict", "tree", "v1", "2015-07-31", columns(stores),
                  ids or [None] * len(stores), values)


def counter(c) -> float:
    return c._value.get()  # the counter's current value (private)


def test_written_records_read_back_through_the_dataset(tmp_path: Path) -> None:
    metrics = ServerMetrics()
    writer = PredictionLogWriter(tmp_path / "log", metrics, writer_id="w1")
    submit(writer, [1, 2, 3], ids=[10, 11, None])
    submit(writer, [4])
    writer.close()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    files = list((tmp_path / "log").glob("date=*/*.jsonl"))
    assert [f.relative_to(tmp_path / "log").as_posix() for f in files] in (
        [f"date={today}/w1.jsonl"],
        [f"date={(datetime.now(UTC) - timedelta(days=1)).strftime('%Y-%m-%d')}/w1.jsonl"])
    log = PredictionLogDataset(str(tmp_path / "log")).load()
    assert list(log.columns) == list(LOG_COLUMNS) and len(log) == 4
    assert log["Store"].tolist() == [1, 2, 3, 4]
    assert log["Id"].tolist()[:2] == [10, 11] and log["Id"].isna().tolist()[2:] == [True, True]
    assert log["Sales"].tolist() == [100.0, 200.0, 300.0, 400.0]
    assert (log["Date"] == pd.Timestamp("2015-08-03")).all()
    assert (log[["model", "version", "train_end"]].iloc[0] == ["tree", "v1", "2015-07-31"]).all()
    assert counter(metrics.log_written) == 4 and writer.written == 4


def test_empty_log_loads_as_an_empty_frame_with_the_schema(tmp_path: Path) -> None:
    log = PredictionLogDataset(str(tmp_path / "nothing-yet")).load()
    assert log.empty and list(log.columns) == list(LOG_COLUMNS)


def test_a_full_queue_drops_and_counts_records_without_blocking(tmp_path: Path) -> None:
    taken, release = threading.Event(), threading.Event()
    written: list[int] = []

    def slow_disk(root, records, writer_id):
        taken.set()
        assert release.wait(60)
        written.append(len(records))
        return len(records)

    metrics = ServerMetrics()
    writer = PredictionLogWriter(tmp_path, metrics, max_queued_requests=2, append=slow_disk)
    submit(writer, [1])                     # the writer takes it and hangs on the disk
    assert taken.wait(30)
    submit(writer, [2, 3])                  # queued
    submit(writer, [4])                     # queued: the queue is full now
    started = time.perf_counter()
    for _ in range(3):
        submit(writer, [5, 6, 7, 8])        # dropped, 4 records each
    assert time.perf_counter() - started < 5  # never waits for the disk
    assert writer.dropped == 12 and counter(metrics.log_dropped) == 12
    release.set()
    writer.close()
    assert sum(written) == 4 and counter(metrics.log_written) == 4


def test_unwritable_folder_counts_failures_and_logs_one_error(tmp_path: Path, caplog) -> None:
    not_a_dir = tmp_path / "log"
    not_a_dir.write_text("a file where the log folder should be")  # fails even for root
    metrics = ServerMetrics()
    writer = PredictionLogWriter(not_a_dir, metrics, flush_seconds=0)
    with caplog.at_level(logging.ERROR, logger="grpc_server.prediction_log"):
        for _ in range(5):
            submit(writer, [1, 2])
            writer.flush()  # one write attempt per request
        writer.close()
    assert writer.failed == 10 and counter(metrics.log_failed) == 10 and writer.written == 0
    errors = [r for r in caplog.records if r.name == "grpc_server.prediction_log"
              and r.levelno == logging.ERROR]
    assert len(errors) == 1 and "cannot write" in errors[0].getMessage()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_full_disk_counts_failures(tmp_path: Path) -> None:
    root = tmp_path / "log"
    now = datetime.now(UTC)
    for day in (now, now + timedelta(days=1)):  # the writer may cross midnight
        part = root / f"date={day.strftime('%Y-%m-%d')}"
        part.mkdir(parents=True)
        (part / "w.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    metrics = ServerMetrics()
    writer = PredictionLogWriter(root, metrics, writer_id="w")
    submit(writer, [1, 2, 3])
    writer.close()
    assert writer.failed == 3 and counter(metrics.log_failed) == 3 and writer.written == 0


def _serving_workspace(fake_workspace: Path, log_path: str | None, enabled: bool = True,
                       version: int = 0):
    if log_path is not None:
        (fake_workspace / "conf" / "local" / "catalog_log.yml").write_text(
            "prediction_log:\n  type: rossmann_kedro.datasets.prediction_log."
            f"PredictionLogDataset\n  path: {log_path}\n")
    catalog, params = load_project_catalog(fake_workspace)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(version))
    registry = ModelRegistry(catalog, models={"tree": FAKE_DATASET}, poll_interval=0.05)
    config = ServingConfig.from_params(params, prediction_log=enabled)
    return start_server(registry, config, port=free_port(), threads=4, metrics_port=0)


def _predict_until_serving(port: int, n: int) -> list[float]:
    out = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pbg.ForecastServiceStub(channel)
        req = pb.PredictRequest(rows=[pb.StoreDay(store=2, date="2015-08-03",
                                                  state_holiday="0")])
        deadline = time.monotonic() + 30
        while len(out) < n:
            try:
                out.append(stub.Predict(req, timeout=10).predictions[0].sales)
            except grpc.RpcError as exc:  # UNAVAILABLE until the first version loads
                assert exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline
                time.sleep(0.05)
    return out


def test_server_predicts_with_an_unwritable_log_folder(fake_workspace: Path) -> None:
    blocker = fake_workspace / "data" / "log-is-a-file"
    blocker.write_text("x")
    running = _serving_workspace(fake_workspace, str(blocker))
    try:
        assert _predict_until_serving(running.port, 20) == [201.0] * 20
        running.prediction_log.flush()
        assert running.prediction_log.failed == 20
        assert counter(running.metrics.log_failed) == 20
    finally:
        running.stop()


def test_log_on_by_default_and_the_parameter_switches_it_off(fake_workspace: Path) -> None:
    running = _serving_workspace(fake_workspace, None)
    try:
        _predict_until_serving(running.port, 3)
        running.prediction_log.flush()
    finally:
        running.stop()
    catalog, _ = load_project_catalog(fake_workspace)
    assert len(catalog.load("prediction_log")) == 3
    assert list((fake_workspace / "data" / "09_prediction_log").glob("date=*/*.jsonl"))

    off = _serving_workspace(fake_workspace, None, enabled=False, version=1)
    try:
        assert off.prediction_log is None
        _predict_until_serving(off.port, 3)
    finally:
        off.stop()
    assert len(catalog.load("prediction_log")) == 3  # nothing added
