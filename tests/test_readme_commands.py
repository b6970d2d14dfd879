"""The README's commands work verbatim on a fresh clone after `make run`.

Every command of every ```bash block is either run here (in a throwaway copy of the project
whose synthetic raw data `kedro run` has generated, with `.venv` pointing at this checkout's),
or listed in NOT_RUN with the reason; those still have their executables, scripts, input paths
and CLI options checked. Inline `kedro run --pipeline(s) NAME` mentions must name registered
pipelines. So the README cannot drift from the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from rossmann_kedro.workspace import PROJECT_ROOT, make_workspace, run_pipeline

pytestmark = pytest.mark.slow

README = PROJECT_ROOT / "README.md"

#: Command prefixes that are not run, and why (checked statically instead).
NOT_RUN = {
    "make run": "installs the project and runs every pipeline; its parts are tested directly",
    "make test": "the test suite itself",
    "grpcurl ": "needs a running gRPC server and grpcurl; each has a Python client twin below",
    "curl ": "needs a running REST gateway (tests/serving/test_e2e.py calls these routes)",
    ".venv/bin/python -m grpc_server serve": "starts a long-running server",
    ".venv/bin/python -m grpc_server gateway": "starts a long-running server",
    ".venv/bin/python -m grpc_server client": "needs a running server; its options are parsed",
    ".venv/bin/kedro viz run": "starts a long-running server (tests/test_kedro_viz.py runs it)",
    ".venv/bin/python benchmarks/": "benchmark: minutes on the real data",
    "git clone . ../rossmann-under-load": "runs the whole suite three times beside CPU hogs",
    "python3 -m venv .venv-tracking": "creates a second venv (downloads ~100 MB)",
    ".venv/bin/kedro run --env dask": "minutes on a local Dask cluster, or a remote scheduler "
                                      "(tests/scale/test_dask_env.py runs the dask env)",
    ".venv/bin/python -m rossmann_kedro.synthetic --out data/01_raw --stores 10000":
        "writes ~10M rows into data/01_raw (tests/test_synthetic.py covers --partitioned)",
    ".venv-tracking/": "needs the optional tracking venv (tests/test_tracking.py, marker tracking)",
}


def readme_commands(text: str) -> list[str]:
    """Shell commands of the ```bash blocks: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            # quoted JSON spans lines in some curl/grpcurl examples: keep the first line only
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command and not command.startswith(("\"", "'", "}")) and re.match(r"^[.\w]", command):
                commands.append(command)
    return commands


def _reason(command: str) -> str | None:
    bare = re.sub(r"^(\w+=\S*\s+)+", "", command)  # `TOKEN=... cmd`: judged by cmd
    bare = re.sub(r"^nice(\s+-n\s*-?\d+)?\s+", "", bare)  # `nice -n 15 cmd`: judged by cmd
    return next((why for prefix, why in NOT_RUN.items() if bare.startswith(prefix)), None)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The project as a fresh clone has it after `make run`: conf, the venv, and the synthetic
    raw files the first run generates (data_processing is the part that writes them)."""
    ws = make_workspace(tmp_path_factory.mktemp("readme") / "clone")
    (ws / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    for folder in ("benchmarks", "grpc_server"):
        (ws / folder).symlink_to(PROJECT_ROOT / folder)
    run_pipeline(ws, "data_processing")
    return ws


def test_readme_has_commands_and_each_is_run_or_accounted_for() -> None:
    commands = readme_commands(README.read_text())
    assert len(commands) >= 15
    assert any(c.startswith(".venv/bin/python -m grpc_server client predict --store") for c in commands)
    assert [c for c in commands if _reason(c) is None], "nothing left to run"


def test_commands_that_are_safe_run_verbatim(fresh_clone: Path) -> None:
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    for command in readme_commands(README.read_text()):
        if _reason(command) is not None:
            continue
        proc = subprocess.run(command, shell=True, cwd=fresh_clone, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"{command!r} failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
        if command.startswith(".venv/bin/kedro viz build"):  # it exits 0 even when it fails
            assert (fresh_clone / "build" / "api" / "main").is_file(), proc.stdout[-3000:]


def test_commands_not_run_have_their_files_and_options(fresh_clone: Path) -> None:
    from grpc_server.__main__ import build_parser

    for command in readme_commands(README.read_text()):
        if _reason(command) is None or command.startswith(("make ", "grpcurl ", "curl ")):
            continue
        argv = shlex.split(re.sub(r"^(\w+=\S*\s+)+", "", command))
        if argv[0].startswith(".venv/"):
            assert (fresh_clone / argv[0]).exists(), command
        if argv[1:3] == ["-m", "grpc_server"]:
            args = build_parser().parse_args(argv[3:])  # SystemExit on an unknown option
            csv = getattr(args, "csv", None)
            if csv is not None:
                assert (fresh_clone / csv).is_file(), f"{command}: {csv} does not exist"
        if len(argv) > 1 and argv[1].startswith("benchmarks/"):
            assert (fresh_clone / argv[1]).is_file(), command


def test_inline_kedro_run_commands_name_registered_pipelines() -> None:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    pipelines.set_requested(None)
    registered = set(pipelines)
    named = re.findall(r"kedro run --pipelines? ([a-z_]+)", README.read_text())  # not NAME
    assert named and set(named) <= registered, set(named) - registered
    namespaces = re.findall(r"kedro run --namespaces (\w+)", README.read_text())
    nodes = {n.namespace for p in registered for n in pipelines[p].nodes}
    assert set(namespaces) <= nodes
