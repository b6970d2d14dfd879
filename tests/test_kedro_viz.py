"""Kedro-Viz starts as a real process on this project and lists every registered pipeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rossmann_kedro.workspace import make_workspace
from tests.serving.processes import free_port

pytestmark = pytest.mark.slow



def _stop(proc: subprocess.Popen) -> None:
    """Kedro-Viz spawns helper processes (uvicorn, multiprocessing): end the whole group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    try:  # children left behind after the leader exited
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_kedro_viz_lists_all_registered_pipelines(tmp_path: Path) -> None:
    from kedro.framework.startup import bootstrap_project

    ws = make_workspace(tmp_path / "ws")
    bootstrap_project(ws)
    from rossmann_kedro.pipeline_registry import register_pipelines

    expected = set(register_pipelines())
    assert {"data_processing", "eda", "__default__"} <= expected

    port = free_port()  # below 49152: Kedro-Viz refuses higher ports
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    log = (tmp_path / "viz.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kedro", "viz", "run", "--host", "127.0.0.1", "--port", str(port),
         "--no-browser"],
        cwd=ws, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/main"
        deadline = time.monotonic() + 90
        data = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"kedro viz exited with {proc.returncode}:\n"
                            f"{(tmp_path / 'viz.log').read_text()[-3000:]}")
            try:
                r = httpx.get(url, timeout=5)
                if r.status_code == 200:
                    data = r.json()
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert data is not None, "kedro viz did not answer within 90 s"
        assert {p["id"] for p in data["pipelines"]} == expected
        names = {n["name"] for n in data["nodes"]}
        assert {"eda_report", "eda_promo_effect_plot", "build_report"} <= names
        # every pipeline is a modular pipeline (a collapsible group named after it)
        groups = set(data["modular_pipelines"]) - {"__root__"}
        assert expected - {"__default__"} <= groups
        assert data["modular_pipelines"]["eda"]["children"]
    finally:
        _stop(proc)
        log.close()
