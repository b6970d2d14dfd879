"""Experiment tracking (optional extra `.[tracking]`): a tree_model run leaves an MLflow run with
its parameters, metrics and model version in the project's mlflow.db. Skipped without the extra;
run it from a separate venv (README "Experiment tracking"):

    python -m venv .venv-tracking && .venv-tracking/bin/pip install -e '.[dev,tracking]'
    .venv-tracking/bin/python -m pytest -m tracking --no-cov
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rossmann_kedro.tracking import flatten, numeric_leaves
from rossmann_kedro.workspace import make_workspace, run_pipeline

SMALL_TREE = {"tree_model": {"refit_on_full_data": False,
                             "models": {"xgboost": {"n_estimators": 20},
                                        "random_forest": {"n_estimators": 3}},
                             "loss_comparison": {"enabled": False},
                             "permutation_importance": {"n_rows": 300, "n_repeats": 1}}}


def test_flatten_and_numeric_leaves_without_mlflow() -> None:
    data = {"models": {"xgboost": {"rmspe": 0.1, "n": 3, "name": "x"}}, "ok": True,
            "bad": float("nan")}
    assert dict(flatten(data, "m")) == {"m.models.xgboost.rmspe": 0.1, "m.models.xgboost.n": 3,
                                        "m.models.xgboost.name": "x", "m.ok": True,
                                        "m.bad": data["bad"]}
    assert numeric_leaves(data, "m") == {"m.models.xgboost.rmspe": 0.1, "m.models.xgboost.n": 3.0}


def test_without_the_extra_nothing_is_tracked(tmp_path: Path, small_raw_tables) -> None:
    try:
        import kedro_mlflow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the tracking extra is installed here")
    from rossmann_kedro.synthetic import write_csvs

    ws = make_workspace(tmp_path / "ws")
    write_csvs(ws / "data" / "01_raw", tables=small_raw_tables)
    run_pipeline(ws, "data_processing")
    assert not (ws / "mlflow.db").exists() and not (ws / "mlruns").exists()


@pytest.mark.tracking
@pytest.mark.slow
def test_tree_model_run_leaves_an_mlflow_run_with_its_metrics(tmp_path: Path,
                                                              small_raw_tables) -> None:
    pytest.importorskip("kedro_mlflow")
    import mlflow

    from rossmann_kedro.synthetic import write_csvs

    ws = make_workspace(tmp_path / "ws")
    write_csvs(ws / "data" / "01_raw", tables=small_raw_tables)
    for name in ("data_processing", "feature_engineering"):
        run_pipeline(ws, name)
    run_pipeline(ws, "tree_model", params=SMALL_TREE)
    assert (ws / "mlflow.db").is_file()

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rossmann_kedro")
    runs = client.search_runs([experiment.experiment_id], "tags.kedro_pipelines = 'tree_model'")
    assert len(runs) == 1
    run = runs[0]
    metrics = run.data.metrics
    rmspe = {k: v for k, v in metrics.items()
             if k.startswith("tree_model_metrics.") and k.endswith("rmspe")}
    assert rmspe and all(0 < v < 1 for v in rmspe.values())
    assert run.data.params["tree_model.models.xgboost.n_estimators"] == "20"  # the run's value
    version = run.data.tags["tree_forecaster.version"]
    assert (ws / "data" / "06_models" / "tree_forecaster.pkl" / version).is_dir()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "tree_model_metrics.json" in artifacts
