"""`python -m grpc_server client predict --store N --date D`: one row with Python alone, the
twin of the README's grpcurl Predict example."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd

from grpc_server.__main__ import main
from grpc_server.registry import ModelRegistry
from grpc_server.server import ServingConfig, start_server
from rossmann_kedro.config import load_parameters
from rossmann_kedro.workspace import PROJECT_ROOT
from tests.serving.conftest import FAKE_DATASET, save_version, version_ts
from tests.serving.fake_forecaster import FakeForecaster
from tests.serving.processes import free_port


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_single_row_predict_and_refusal(fake_catalog, tmp_path) -> None:
    catalog, _ = fake_catalog
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    registry = ModelRegistry(catalog, models={"tree": FAKE_DATASET}, poll_interval=0.05)
    config = ServingConfig.from_params(load_parameters(PROJECT_ROOT), grace_seconds=1,
                                       metrics_port=0, prediction_log=False)
    running = start_server(registry, config, port=free_port(), threads=2)
    target = f"127.0.0.1:{running.port}"
    try:
        deadline = time.monotonic() + 30  # the registry loads the version in the background
        while _cli("client", "health", "--target", target)[1].strip() != "SERVING":
            assert time.monotonic() < deadline, "the fake model never started serving"
            time.sleep(0.1)
        code, _, err = _cli("client", "predict", "--target", target, "--store", "1",
                            "--date", "2015-08-01", "--promo", "--out", str(tmp_path / "one.csv"))
        assert code == 0, err
        table = pd.read_csv(tmp_path / "one.csv")
        assert len(table) == 1 and table.loc[0, "Store"] == 1 and table.loc[0, "Sales"] > 0
        assert "1 predictions from tree" in err
        _cli("client", "predict", "--target", target, "--store", "1", "--date", "2015-08-01",
             "--closed", "--out", str(tmp_path / "closed.csv"))
        assert pd.read_csv(tmp_path / "closed.csv").loc[0, "Sales"] == 0
        code, _, err = _cli("client", "predict", "--target", target, "--store", "99999",
                            "--date", "2015-08-01")
        assert code == 1 and "INVALID_ARGUMENT" in err and "rows[0].store" in err
        code, _, err = _cli("client", "predict", "--target", target, "--store", "1")
        assert code == 2 and "--date" in err
    finally:
        running.stop(0)
