"""Pipelines stand alone and talk only through catalog datasets: a pipeline run before its
inputs exist stops with one line naming them and the pipelines that make them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rossmann_kedro.hooks import MissingInputsError
from rossmann_kedro.workspace import make_workspace, run_pipeline

MODEL_PIPELINES = ("data_processing", "eda", "feature_engineering", "backtest", "tree_model",
                   "lstm_model", "reporting")


def _registered() -> dict:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    from rossmann_kedro.workspace import PROJECT_ROOT

    bootstrap_project(PROJECT_ROOT)
    pipelines.set_requested(None)
    return dict(pipelines)


def test_every_pipeline_is_namespaced_and_keeps_public_dataset_names() -> None:
    pipes = _registered()
    for name in MODEL_PIPELINES:
        nodes = pipes[name].nodes
        assert {n.namespace for n in nodes} == {name}, name
        assert all(n.name.startswith(f"{name}.") for n in nodes)
    # the datasets users and other pipelines read are not renamed by the namespaces
    assert {"sales_with_store", "test_clean", "stores_clean"} <= pipes["data_processing"].all_outputs()
    assert {"feature_context", "model_input_validation"} <= pipes["feature_engineering"].all_outputs()
    assert "lstm_forecaster" in pipes["lstm_model"].all_outputs()
    assert pipes["reporting"].inputs() == {"backtest_selection", "lstm_metrics"}
    # lstm_model reads nothing tree_model makes
    tree_outputs = pipes["tree_model"].all_outputs()
    assert not pipes["lstm_model"].inputs() & tree_outputs


def test_missing_inputs_stop_the_run_naming_them_and_their_producers(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(MissingInputsError) as info:
        run_pipeline(ws, "tree_model")
    err = info.value
    assert err.missing["model_input_origins"] == "feature_engineering"
    assert err.missing["backtest_selection"] == "backtest"
    assert err.missing["test_clean"] == "data_processing"
    msg = err.message
    assert "\n" not in msg and msg.startswith("cannot run tree_model: missing input(s) ")
    # upstream first
    assert msg.index("--pipelines data_processing") < msg.index("--pipelines feature_engineering")
    assert not list((ws / "data").rglob("*.parquet"))  # nothing ran


@pytest.mark.slow
def test_kedro_cli_prints_one_line_without_traceback(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true",
           "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines", "reporting"],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert errors == ["Error: cannot run reporting: missing input(s) backtest_selection (from "
                      "backtest); lstm_metrics (from lstm_model). Run `kedro run "
                      "--pipelines backtest` then `kedro run --pipelines lstm_model` first."]


def _set_param(ws: Path, pipeline: str, path: str, value) -> None:
    """Edit one value in the workspace's conf/base/parameters_<pipeline>.yml."""
    import yaml

    file = ws / "conf" / "base" / f"parameters_{pipeline}.yml"
    params = yaml.safe_load(file.read_text())
    node = params
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    file.write_text(yaml.safe_dump(params))


def test_a_yaml_parameter_is_the_only_owner_of_its_setting(tmp_path: Path,
                                                            small_raw_tables) -> None:
    """Change one value in YAML and the run uses it (no second default in code wins)."""
    import json

    from rossmann_kedro.synthetic import write_csvs

    ws = make_workspace(tmp_path / "ws")
    write_csvs(ws / "data" / "01_raw", tables=small_raw_tables)
    _set_param(ws, "data_processing", "data_processing.outliers.threshold", 1.5)
    run_pipeline(ws, "data_processing")
    summary = json.loads((ws / "data/08_reporting/outlier_summary.json").read_text())
    assert summary["threshold"] == 1.5 and summary["by_kind"].get("high", 0) > 0


@pytest.mark.parametrize(("path", "value", "named"), [
    ("data_processing.outliers.action", "clip", "action"),
    ("data_processing.outliers.treshold", 3.0, "treshold"),
    ("data_processing.store_fill.competition_distance_fill", -1, "competition_distance_fill"),
])
def test_a_bad_parameter_stops_the_run_naming_the_key(tmp_path: Path, path, value,
                                                       named) -> None:
    ws = make_workspace(tmp_path / "ws")
    _set_param(ws, "data_processing", path, value)
    with pytest.raises(Exception, match=named) as info:
        run_pipeline(ws, "data_processing")
    block = path.rsplit(".", 1)[0]  # e.g. data_processing.outliers
    assert f"Parameter '{block}'" in str(info.value)
    assert not list((ws / "data").rglob("*.parquet"))  # stopped before any node ran


def test_no_private_kedro_attributes_in_the_code() -> None:
    """src/ and grpc_server/ use public Kedro APIs only (serving builds its catalog from the
    project's settings, not from a session's private state)."""
    import re

    from rossmann_kedro.workspace import PROJECT_ROOT

    private = re.compile(r"\b(context|session|catalog|settings|pipelines|loader)\._[a-z]")
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{i}"
                 for folder in ("src/rossmann_kedro", "grpc_server")
                 for path in (PROJECT_ROOT / folder).rglob("*.py")
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if private.search(line)]
    assert offenders == []
