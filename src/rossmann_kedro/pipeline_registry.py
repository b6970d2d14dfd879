"""Project pipelines."""
from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from rossmann_kedro.scale import with_dask_variants


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Nodes that handle the large tables also accept Dask frames (`kedro run --env dask`, see
    `rossmann_kedro.scale`); with pandas inputs they run exactly as written.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = {name: with_dask_variants(p) for name, p in find_pipelines(raise_errors=True).items()}
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
