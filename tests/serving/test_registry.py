"""Model registry against a real Kedro catalog in a tmp workspace: latest version by default,
pinned versions, hot reload, and bad versions that are skipped without harming the served one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from grpc_server.errors import FailedPrecondition, NotFound, Unavailable
from grpc_server.registry import ModelRegistry
from grpc_server.server import ServingConfig
from grpc_server.servicer import model_info, predict
from rossmann.v1 import forecast_pb2 as pb
from tests.serving.conftest import FAKE_DATASET, save_version, truncate_in_place, version_ts
from tests.serving.fake_forecaster import (
    FakeForecaster,
    NaNForecaster,
    NaNIntervalForecaster,
    ShortHorizonForecaster,
)

MODELS = {"tree": FAKE_DATASET, "prophet": "no_such_dataset"}


def wait_for(predicate, timeout: float = 60.0) -> None:
    """Poll with a generous deadline: the poller thread may be slow on a busy machine."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached within 60 s"
        time.sleep(0.02)


def registry_for(catalog) -> ModelRegistry:
    return ModelRegistry(catalog, models=MODELS, poll_interval=0.05)


def request(store: int = 1, **kw) -> pb.PredictRequest:
    row = pb.StoreDay(store=store, date="2015-08-01", promo=False, state_holiday="0")
    return pb.PredictRequest(rows=[row], **kw)


def test_config_comes_from_the_project_parameters(fake_catalog) -> None:
    _catalog, params = fake_catalog
    config = ServingConfig.from_params(params, max_batch_rows=None, grace_seconds=3.0)
    assert config.models == MODELS
    assert config.max_batch_rows == 1000 and config.reload_poll_seconds == 0.2
    assert config.grace_seconds == 3.0


def test_loads_latest_version_and_serves_pinned_ones(fake_catalog) -> None:
    catalog, _ = fake_catalog
    for i, scale in enumerate((1.0, 2.0, 3.0)):
        save_version(catalog, FAKE_DATASET, FakeForecaster(scale=scale), version_ts(i))
    reg = registry_for(catalog)
    assert reg.model_names == ["tree"]  # no_such_dataset is not in the catalog: not served
    with pytest.raises(Unavailable, match="no loaded version yet"):
        reg.get("tree")
    assert reg.refresh()
    latest = reg.get()
    assert latest.version == version_ts(2) and latest.forecaster.scale == 3.0
    assert reg.versions_on_disk("tree") == [version_ts(2), version_ts(1), version_ts(0)]

    resp = predict(reg, request(version=version_ts(0)), max_batch_rows=10)
    assert resp.version == version_ts(0) and resp.predictions[0].sales == 106.0
    resp = predict(reg, request(), max_batch_rows=10)
    assert resp.version == version_ts(2) and resp.predictions[0].sales == 3 * 106.0

    with pytest.raises(NotFound, match="no version '2024-01-01"):
        reg.get("tree", "2024-01-01T00.00.00.000Z")
    with pytest.raises(NotFound, match="unknown model 'forest'"):
        reg.get("forest")
    with pytest.raises(NotFound, match="unknown model 'prophet'"):
        predict(reg, request(model="prophet"), max_batch_rows=10)

    (info,) = model_info(reg, pb.GetModelInfoRequest()).models
    assert info.name == "tree" and info.status == pb.ModelInfo.SERVING
    assert info.version == version_ts(2) and info.dataset == FAKE_DATASET
    assert info.metrics.rmspe == pytest.approx(0.1) and info.interval_level == 0.8
    assert info.train_start == "2013-01-01" and info.train_end == "2015-07-31"
    assert list(info.versions_on_disk)[0] == version_ts(2) and info.n_stores == 12


def test_hot_reload_swaps_without_failing_requests(fake_catalog) -> None:
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, FakeForecaster(scale=1.0), version_ts(0))
    reg = registry_for(catalog)
    reg.start()
    try:
        wait_for(reg.any_serving)
        seen, errors = set(), []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                try:
                    seen.add(predict(reg, request(), max_batch_rows=10).version)
                except Exception as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        save_version(catalog, FAKE_DATASET, FakeForecaster(scale=2.0), version_ts(1))
        wait_for(lambda: reg.get().version == version_ts(1))
        wait_for(lambda: version_ts(1) in seen)  # requests are answered by the new version
        stop.set()
        for t in threads:
            t.join()
    finally:
        reg.stop()
    assert errors == []
    assert reg.get().version == version_ts(1)
    assert seen == {version_ts(0), version_ts(1)}


def test_corrupt_and_invalid_versions_are_skipped(fake_catalog, caplog) -> None:
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, FakeForecaster(scale=1.0), version_ts(0))
    reg = registry_for(catalog)
    reg.refresh()
    # a truncated pickle, a non-Forecaster, a Forecaster predicting NaN: none may replace v0
    path = save_version(catalog, FAKE_DATASET, FakeForecaster(scale=5.0), version_ts(1))
    truncate_in_place(path, 40)
    save_version(catalog, FAKE_DATASET, {"not": "a model"}, version_ts(2))
    save_version(catalog, FAKE_DATASET, NaNForecaster(), version_ts(3))
    with caplog.at_level("WARNING"):
        assert not reg.refresh()
    assert reg.get().version == version_ts(0)
    skipped = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert len(skipped) == 3
    assert "not a Forecaster" in " ".join(skipped) and "finite" in " ".join(skipped)
    caplog.clear()
    with caplog.at_level("WARNING"):
        reg.refresh()  # rejected versions are not retried (no log spam) while unchanged
    assert not [r for r in caplog.records if "Skipping" in r.getMessage()]
    (info,) = reg.info()
    assert info["status"] == "SERVING" and "skipped" in info["error"]
    with pytest.raises(FailedPrecondition, match="cannot be served"):
        reg.get("tree", version_ts(2))

    # the partial file is finished later (a run still writing): it is retried and served
    import pickle

    path.write_bytes(pickle.dumps(FakeForecaster(scale=5.0)))
    assert reg.refresh()
    assert reg.get().version == version_ts(1) and reg.get().forecaster.scale == 5.0


def test_only_bad_versions_means_failed_then_a_good_one_serves(fake_catalog) -> None:
    catalog, _ = fake_catalog
    reg = registry_for(catalog)
    reg.refresh()
    assert reg.info()[0]["status"] == "LOADING"  # nothing on disk yet
    save_version(catalog, FAKE_DATASET, "garbage", version_ts(0))
    reg.refresh()
    assert reg.info()[0]["status"] == "FAILED"
    with pytest.raises(Unavailable, match="FAILED"):
        reg.get()
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(1))
    assert reg.refresh() and reg.info()[0]["status"] == "SERVING"


def test_model_bug_does_not_poison_the_registry(fake_catalog, tmp_path: Path) -> None:
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    reg = registry_for(catalog)
    reg.refresh()
    bad = pb.PredictRequest(rows=[pb.StoreDay(store=77, date="2015-08-01", state_holiday="0")])
    with pytest.raises(Exception, match="unknown store 77"):
        predict(reg, bad, max_batch_rows=10)
    assert predict(reg, request(), max_batch_rows=10).predictions[0].sales == 106.0


@pytest.mark.parametrize(("bad", "reason"), [
    (NaNIntervalForecaster(), "not finite for 18 of 216 validation rows, e.g. store 12"),
    (ShortHorizonForecaster(days=3), "cannot forecast every store 1..42 days after training"),
])
def test_a_version_is_validated_on_every_store_and_date(fake_catalog, bad, reason) -> None:
    """The version is tried on every store over six weeks, not a few smoke rows: one store with
    NaN intervals, or a model that cannot reach six weeks ahead, is rejected; the good one
    keeps serving."""
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    reg = registry_for(catalog)
    reg.refresh()
    save_version(catalog, FAKE_DATASET, bad, version_ts(1))
    assert not reg.refresh()
    assert reg.get().version == version_ts(0)
    (info,) = reg.info()
    assert info["status"] == "SERVING" and reason in info["error"], info["error"]
    # a row of the bad store would have served NaN: it is answered by the good version
    resp = predict(reg, request(store=12), max_batch_rows=10)
    assert resp.version == version_ts(0) and resp.predictions[0].upper > 0


def test_client_visible_errors_name_no_server_paths(fake_catalog, fake_workspace,
                                                   caplog) -> None:
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    reg = registry_for(catalog)
    reg.refresh()
    path = save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(1))
    truncate_in_place(path, 40)
    with caplog.at_level("WARNING"):
        reg.refresh()
        with pytest.raises(FailedPrecondition) as err:
            reg.get("tree", version_ts(1))
    (info,) = reg.info()
    for message in (err.value.message, info["error"]):
        assert version_ts(1) in message and "cannot be loaded" in message, message
        assert str(fake_workspace) not in message and "data/06_models" not in message
        assert "Traceback" not in message and "/" not in message.replace(version_ts(1), "")
    # the details are in the server log
    assert str(path) in caplog.text


def test_future_named_versions_are_ignored_for_hot_reload(fake_catalog, caplog) -> None:
    """A version named far in the future (a machine with a wrong clock) is not served as the
    latest and does not hide later real runs; it can still be pinned."""
    from datetime import UTC, datetime

    catalog, _ = fake_catalog
    now = [datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC)]
    reg = ModelRegistry(catalog, models=MODELS, future_version_tolerance_seconds=60,
                        clock=lambda: now[0])
    save_version(catalog, FAKE_DATASET, FakeForecaster(scale=1.0), version_ts(0))
    far = "2999-01-01T00.00.00.000Z"
    save_version(catalog, FAKE_DATASET, FakeForecaster(scale=9.0), far)
    near = "2025-01-01T00.01.00.000Z"  # 30 s ahead: within the tolerance (clock skew)
    save_version(catalog, FAKE_DATASET, FakeForecaster(scale=2.0), near)
    with caplog.at_level("WARNING"):
        assert reg.refresh()
        reg.refresh()
    assert reg.get().version == near
    ignored = [r.getMessage() for r in caplog.records if "Ignoring tree version" in r.getMessage()]
    assert len(ignored) == 1 and far in ignored[0]  # logged once, not on every poll
    now[0] = datetime(2025, 1, 1, 0, 5, tzinfo=UTC)  # a genuinely newer run: picked up
    newer = "2025-01-01T00.04.00.000Z"
    save_version(catalog, FAKE_DATASET, FakeForecaster(scale=3.0), newer)
    assert reg.refresh() and reg.get().version == newer
    assert reg.get("tree", far).forecaster.scale == 9.0  # pinned on purpose: served
