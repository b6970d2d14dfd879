"""Throwaway copies of this Kedro project (config + empty data layers) so tests, benchmarks and
experiments run real Kedro sessions without touching the working tree's data/."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_LAYERS = (
    "01_raw", "02_intermediate", "03_primary", "04_feature",
    "05_model_input", "06_models", "07_model_output", "08_reporting",
)


def make_workspace(
    dest: Path, raw_files: Iterable[Path] = (), project_root: Path = PROJECT_ROOT
) -> Path:
    """Create a runnable project at `dest`: pyproject.toml, conf/ and empty data layers.

    `raw_files` (e.g. real train.csv.gz, store.csv.gz, test.csv.gz) are symlinked into
    data/01_raw; with none, the project falls back to its synthetic default.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(project_root / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(project_root / "conf", dest / "conf", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("credentials*"))
    (dest / "conf" / "local").mkdir(exist_ok=True)
    # Kedro's bootstrap wants a source_dir inside the project; the package itself is imported
    # from the installed (editable) distribution.
    (dest / "src").mkdir(exist_ok=True)
    for layer in DATA_LAYERS:
        (dest / "data" / layer).mkdir(parents=True, exist_ok=True)
    for raw in raw_files:
        link = dest / "data" / "01_raw" / Path(raw).name
        if not link.exists():
            link.symlink_to(Path(raw).resolve())
    return dest


def run_pipeline(
    project_path: Path,
    pipeline_name: str | list[str] | None = None,
    params: dict[str, Any] | None = None,
    node_names: list[str] | None = None,
    env: str | None = None,
) -> dict[str, Any]:
    """Run a pipeline of the project at `project_path` in a real KedroSession.

    The catalog's relative paths resolve against the working directory, as with `kedro run`
    from the project root, so the run happens inside `project_path`. `env` is Kedro's
    configuration environment (e.g. "dask"), as `kedro run --env`.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    with contextlib.chdir(project_path):
        with KedroSession.create(project_path=project_path, env=env,
                                  runtime_params=params or {}) as session:
            if isinstance(pipeline_name, list):  # several pipelines in one run
                return session.run(pipeline_names=pipeline_name, node_names=node_names)
            return session.run(pipeline_name=pipeline_name, node_names=node_names)
