"""feature_engineering through a real Kedro session on the synthetic default."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.features import FEATURE_NAMES, build_features
from rossmann_kedro.pipelines.feature_engineering.nodes import META_COLUMNS, validation_start
from rossmann_kedro.workspace import make_workspace, run_pipeline


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = make_workspace(tmp_path_factory.mktemp("fe") / "ws")
    run_pipeline(ws, "data_processing")
    run_pipeline(ws, "feature_engineering")
    return ws


def _load(ws: Path, rel: str):
    path = ws / "data" / rel
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    import joblib

    return joblib.load(path)


def test_outputs_and_validation_split(workspace: Path) -> None:
    sales = _load(workspace, "03_primary/sales_with_store.parquet")
    mi_val = _load(workspace, "05_model_input/model_input_validation.parquet")
    mi_full = _load(workspace, "05_model_input/model_input_full.parquet")
    ctx_val = _load(workspace, "04_feature/feature_context_validation.pkl")
    ctx_full = _load(workspace, "04_feature/feature_context.pkl")
    test_feats = _load(workspace, "04_feature/test_features.parquet")

    start = validation_start(sales, 6)
    assert start == sales["Date"].max() - pd.Timedelta(days=42)
    assert ctx_val.train_end == str((start - pd.Timedelta(days=1)).date())
    assert ctx_full.train_end == str(sales["Date"].max().date())
    n_open = int((sales["Open"] == 1).sum())
    for mi in (mi_val, mi_full):
        assert list(mi.columns) == [*FEATURE_NAMES, *META_COLUMNS]
        assert len(mi) == n_open
        assert (mi["Date"] >= start).sum() == mi["is_validation"].sum() > 0
    # validation features use statistics from before the window: they differ from the full ones
    assert not np.allclose(mi_val["store_mean_sales"], mi_full["store_mean_sales"])
    assert len(test_feats) == len(_load(workspace, "02_intermediate/test_clean.parquet"))


def test_saved_context_reproduces_model_input(workspace: Path) -> None:
    """The pickled context is all a server needs: it rebuilds the stored features exactly."""
    sales = _load(workspace, "03_primary/sales_with_store.parquet")
    ctx = pickle.loads(pickle.dumps(_load(workspace, "04_feature/feature_context.pkl")))
    mi_full = _load(workspace, "05_model_input/model_input_full.parquet")
    open_rows = sales.loc[sales["Open"] == 1].iloc[:500]
    rebuilt = build_features(open_rows, ctx).reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt, mi_full[list(FEATURE_NAMES)].iloc[:500])
