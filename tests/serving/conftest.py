"""Serving fixtures: a tmp Kedro workspace whose catalog holds a versioned fake forecaster, and
helpers to write model versions through that catalog."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rossmann_kedro.workspace import make_workspace
from tests.small_params import small_backtest_params

FAKE_DATASET = "serving_test_forecaster"
FAKE_CATALOG = f"""
{FAKE_DATASET}:
  type: pickle.PickleDataset
  filepath: data/06_models/{FAKE_DATASET}.pkl
  versioned: true
"""


def version_ts(i: int) -> str:
    """Kedro-format version timestamps that sort in order of `i`."""
    return f"2025-01-01T00.00.{i:02d}.000Z"


def save_version(catalog: Any, dataset: str, obj: Any, version: str) -> Path:
    """Write `obj` as `version` of `dataset` through the catalog (as a pipeline run would)."""
    from kedro.io import Version

    ds = catalog.get(dataset, version=Version(None, version))
    ds.save(obj)
    return Path(str(ds._get_versioned_path(version)))  # private: tests corrupt the file


def save_corrupt_version(catalog: Any, dataset: str, obj: Any, version: str,
                         fraction: float = 1 / 3) -> Path:
    """Make `version` of `dataset` a pickle of `obj` cut to `fraction` of its bytes, as a run that
    crashed mid-write leaves it. The cut bytes appear at once under the final name (written to
    a temporary name, then renamed): a poller never sees a whole valid file there first."""
    import pickle

    from kedro.io import Version

    ds = catalog.get(dataset, version=Version(None, version))
    path = Path(str(ds._get_versioned_path(version)))  # private: tests corrupt the file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(obj)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data[: max(1, int(len(data) * fraction))])
    os.replace(tmp, path)
    return path


def truncate_in_place(path: Path, size: int) -> None:
    """Leave `path` as a crash mid-write would: only its first `size` bytes, appearing at once
    (written to a temporary name, then renamed over it), so that a poller never sees the whole
    valid file first."""
    data = path.read_bytes()[:size]
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def local_serving(ws: Path, **changes: Any) -> None:
    """conf/local `serving:` = the base block with `changes`; env parameters merge into base key
    by key, so base models that `changes` leaves out are mapped to null (not served)."""
    import yaml

    base = yaml.safe_load((ws / "conf" / "base" / "parameters_serving.yml").read_text())
    (ws / "conf" / "local" / "parameters_serving_test.yml").write_text(
        yaml.safe_dump({"serving": {**base["serving"], **changes, **(
            {"models": {**dict.fromkeys(base["serving"]["models"]), **changes["models"]}}
            if "models" in changes else {})}}))


@pytest.fixture()
def fake_workspace(tmp_path: Path) -> Path:
    """A workspace whose `tree` model is `serving_test_forecaster` (no real training)."""
    ws = make_workspace(tmp_path / "ws")
    (ws / "conf" / "base" / "catalog_serving_test.yml").write_text(FAKE_CATALOG)
    local_serving(ws, models={"tree": "serving_test_forecaster", "prophet": "no_such_dataset"},
                  max_batch_rows=1000, reload_poll_seconds=0.2)
    return ws


@pytest.fixture()
def fake_catalog(fake_workspace: Path) -> tuple[Any, dict]:
    from grpc_server.registry import load_project_catalog

    return load_project_catalog(fake_workspace)


@dataclass
class ServedModel:
    """What the end-to-end tests serve: a workspace whose catalog holds the `tree` model (and,
    when trained through the pipelines, the `lstm` model)."""

    workspace: Path
    dataset: str
    rows: pd.DataFrame  # Kaggle test.csv-format rows the model can forecast (with Id)
    stores: frozenset[int]
    batch_predictions: pd.DataFrame | None  # Id, Sales, lower, upper of the batch pipeline
    # the `lstm` model, trained through the lstm_model pipeline in the same workspace
    lstm_batch_predictions: pd.DataFrame | None = None  # Id, Sales, lower, upper
    lstm_valid_dates: tuple[str, str] | None = None  # first, last date the LSTM forecasts

    def catalog(self) -> Any:
        from grpc_server.registry import load_project_catalog

        return load_project_catalog(self.workspace)[0]


def _fake_served_model(root: Path) -> ServedModel:
    from grpc_server.registry import load_project_catalog
    from rossmann_kedro.synthetic import generate
    from tests.serving.fake_forecaster import FakeForecaster

    ws = make_workspace(root / "ws")
    (ws / "conf" / "base" / "catalog_serving_test.yml").write_text(FAKE_CATALOG)
    local_serving(ws, models={"tree": FAKE_DATASET})
    tables = generate(n_stores=12, seed=7)
    stores = frozenset(int(s) for s in tables["store"]["Store"])
    catalog, _ = load_project_catalog(ws)
    save_version(catalog, FAKE_DATASET, FakeForecaster(stores=sorted(stores)), version_ts(0))
    return ServedModel(ws, FAKE_DATASET, tables["test"], stores, None)


# Small settings: the models are still the real TreeForecaster and LSTMForecaster. The backtest
# scores only what the served tree model needs (its choice among two candidates).
SMALL_PARAMS = small_backtest_params(["seasonal_naive", "xgboost_v1", "xgboost"])
SMALL_LSTM_PARAMS = {"lstm_model": SMALL_PARAMS["lstm_model"]}


def _trained_served_model(root: Path) -> ServedModel:
    """Train the real tree and LSTM models through the project's pipelines on small synthetic
    data (20 stores), as `kedro run` would."""
    from rossmann_kedro.workspace import run_pipeline

    ws = make_workspace(root / "ws")
    catalog_yml = ws / "conf" / "base" / "catalog.yml"  # the tmp copy: fewer synthetic stores
    text = catalog_yml.read_text()
    assert "n_stores: 60" in text, "synthetic size moved: update this fixture"
    catalog_yml.write_text(text.replace("n_stores: 60", "n_stores: 20"))
    run_pipeline(ws, "data_processing")
    run_pipeline(ws, "feature_engineering")
    run_pipeline(ws, "backtest", params=SMALL_PARAMS)
    run_pipeline(ws, "tree_model", params=SMALL_PARAMS)
    run_pipeline(ws, "lstm_model", params=SMALL_PARAMS)
    raw = pd.read_csv(ws / "data" / "01_raw" / "synthetic" / "test.csv",
                      dtype={"StateHoliday": str})
    out = ws / "data" / "07_model_output"
    batch = pd.read_parquet(out / "tree_test_predictions.parquet")
    lstm_batch = pd.read_parquet(out / "lstm_test_predictions.parquet")
    stores = pd.read_parquet(ws / "data" / "02_intermediate" / "stores_clean.parquet")["Store"]
    sales_end = pd.read_parquet(ws / "data" / "02_intermediate" / "sales_clean.parquet",
                                columns=["Date"])["Date"].max()
    horizon = SMALL_LSTM_PARAMS["lstm_model"]["horizon_days"]
    valid = (str((sales_end + pd.Timedelta(days=1)).date()),
             str((sales_end + pd.Timedelta(days=horizon)).date()))
    return ServedModel(ws, "tree_forecaster", raw, frozenset(int(s) for s in stores),
                       batch[["Id", "Sales", "lower", "upper"]],
                       lstm_batch[["Id", "Sales", "lower", "upper"]], valid)


@pytest.fixture(scope="session")
def served_model(tmp_path_factory) -> ServedModel:
    """The real tree and LSTM models, trained once per test session (about 15 s)."""
    return _trained_served_model(tmp_path_factory.mktemp("served"))
