"""Experiment tracking with kedro-mlflow, when it is installed (`pip install -e '.[tracking]'`).

kedro-mlflow's own hook opens one MLflow run per `kedro run` (store and experiment in
`conf/base/mlflow.yml`: SQLite `mlflow.db` in the project, `kedro mlflow ui` to browse). This
hook adds what the project knows best: the typed parameters, flattened (`lstm_model.epochs`),
the metrics tables as metrics and JSON artifacts, and the version of every model saved. Without
mlflow installed, or without an active run, every method returns at once: nothing changes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: Datasets whose numbers are logged as MLflow metrics (and saved as JSON artifacts).
METRICS_DATASETS = ("tree_model_metrics", "lstm_metrics")
#: Served models: their catalog version is logged as a tag when a run saves them.
MODEL_DATASETS = ("tree_forecaster", "lstm_forecaster")


def _mlflow() -> Any | None:
    """The mlflow module when a run is active, else None (the extra is optional)."""
    try:
        import mlflow
    except ImportError:
        return None
    return mlflow if mlflow.active_run() is not None else None


def flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Leaves of nested mappings / typed configs as (dotted key, value)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def numeric_leaves(value: Any, prefix: str) -> dict[str, float]:
    out = {}
    for key, item in flatten(value, prefix):
        if isinstance(item, bool) or not isinstance(item, int | float):
            continue
        if item == item and abs(item) != float("inf"):  # MLflow rejects NaN/inf
            out[key] = float(item)
    return out


class TrackingHook:
    """Parameters, metrics tables and model versions into the active MLflow run."""

    def __init__(self) -> None:
        self._save_version: str | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._save_version = run_params.get("run_id")  # versioned datasets save under it
        mlflow = _mlflow()
        if mlflow is not None:
            mlflow.set_tag("kedro_pipelines", ",".join(run_params.get("pipeline_names")
                                                       or ["__default__"]))

    @hook_impl
    def before_node_run(self, inputs: dict[str, Any]) -> None:
        mlflow = _mlflow()
        if mlflow is None:
            return
        params = {}
        for name, value in inputs.items():
            if name.startswith("params:"):
                params.update(dict(flatten(value, name.removeprefix("params:"))))
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        mlflow = _mlflow()
        if mlflow is None:
            return
        if dataset_name in METRICS_DATASETS:
            metrics = numeric_leaves(data, "")
            mlflow.log_metrics({f"{dataset_name}.{k}": v for k, v in metrics.items()})
            mlflow.log_dict(data, f"{dataset_name}.json")
            logger.info("MLflow: logged %d metrics of %s", len(metrics), dataset_name)
        elif dataset_name in MODEL_DATASETS and self._save_version:
            mlflow.set_tag(f"{dataset_name}.version", self._save_version)
            mlflow.set_tag("model_version", self._save_version)
