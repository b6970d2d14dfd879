"""`kedro run --env dask` end to end on a tiny synthetic chain (40 stores in 4 partitions of
whole stores, a LocalCluster of 2 worker processes on 127.0.0.1), against the pandas path on
the very same data, and the Dask-trained model served over gRPC by an unchanged server."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.features import FEATURE_NAMES
from rossmann_kedro.synthetic import write_partitioned
from rossmann_kedro.workspace import make_workspace, run_pipeline
from tests.small_params import small_backtest_params

pytestmark = [pytest.mark.dask, pytest.mark.slow]

PIPELINES = ["data_processing", "feature_engineering", "backtest", "tree_model"]
# backtest and tree_model shrunk to seconds (as for the serving tests): the reference candidate
# (every open day, the model-input table) is the one the Dask path trains on the cluster, with
# enough rounds to leave the underfitted start (at 25 rounds two fits differ by ~0.01 RMSPE)
SMALL_TREE = small_backtest_params(["seasonal_naive", "xgboost_v1"])
SMALL_TREE["tree_model"]["candidates"]["xgboost_v1"] = {"params": {"n_estimators": 60}}
# the cluster the issue asks for: 2 worker processes (real processes: a task that only works
# in the driver's memory would fail here), small memory limit, loopback only
CLUSTER = {"scale": {"cluster": {"address": None, "n_workers": 2, "threads_per_worker": 1,
                                 "memory_limit": "1GiB", "dashboard_address": None},
                     "gather_max_rows": 2_000_000}}
# the two models are fitted differently (distributed histogram sketch and row order for
# XGBoost's subsampling), so they are not identical; on this data they score within this
RMSPE_TOLERANCE = 0.01
# ... and their forecasts differ row by row (measured: 1.6 % relative RMS difference)
PREDICTION_TOLERANCE = 0.04


def _workspace(root: Path) -> Path:
    """A project whose data/01_raw holds one synthetic chain twice: as the partitioned layout
    the Dask env reads (train/*.parquet) and as train.csv the pandas env reads."""
    ws = make_workspace(root)
    raw = ws / "data" / "01_raw"
    write_partitioned(raw, n_stores=40, seed=3, stores_per_partition=10)
    train = pd.concat([pd.read_parquet(p) for p in sorted((raw / "train").glob("*.parquet"))])
    train.to_csv(raw / "train.csv", index=False)
    return ws


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dask_env")
    pandas_ws = _workspace(root / "pandas")
    run_pipeline(pandas_ws, PIPELINES, params=SMALL_TREE)
    dask_ws = _workspace(root / "dask")
    run_pipeline(dask_ws, PIPELINES, params={**SMALL_TREE, **CLUSTER}, env="dask")
    return {"pandas": pandas_ws, "dask": dask_ws}


def _metrics(ws: Path) -> dict:
    (path,) = (ws / "data" / "08_reporting" / "tree_model_metrics.json").glob("*/*.json")
    return json.loads(path.read_text())


def test_dask_env_writes_partitioned_tables(runs):
    ws = runs["dask"]
    parts = sorted((ws / "data" / "05_model_input" / "dask" / "model_input_full").glob("*.parquet"))
    assert len(parts) == 4
    stores = [set(pd.read_parquet(p, columns=["Store"])["Store"]) for p in parts]
    assert all(not (a & b) for i, a in enumerate(stores) for b in stores[i + 1:])  # whole stores
    assert set().union(*stores) == set(range(1, 41))
    import joblib

    (model,) = (ws / "data" / "06_models" / "tree_forecaster.pkl").glob("*/*.pkl")
    forecaster = joblib.load(model)
    assert [m.trained_with_ for m in forecaster.members] == ["xgboost.dask"]


def test_pandas_and_dask_give_the_same_features(runs):
    def model_input(ws: Path, name: str) -> pd.DataFrame:
        d = ws / "data" / "05_model_input"
        df = (pd.read_parquet(d / "dask" / name) if (d / "dask" / name).is_dir()
              else pd.read_parquet(d / f"{name}.parquet"))
        return df.sort_values(["Store", "Date"], ignore_index=True)

    for name in ("model_input_validation", "model_input_full"):
        a, b = model_input(runs["pandas"], name), model_input(runs["dask"], name)
        assert len(a) == len(b) > 20_000
        cols = [*FEATURE_NAMES, "Sales", "Customers", "Open", "SalesOutlier", "is_validation"]
        pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
    for name in ("sales_outliers.csv", "missing_values.json", "data_coverage.json"):
        rep = [(ws / "data" / "08_reporting" / name).read_text() for ws in runs.values()]
        if name.endswith(".json"):
            assert json.loads(rep[0]) == json.loads(rep[1])
        else:
            assert pd.read_csv(pd.io.common.StringIO(rep[0])).equals(
                pd.read_csv(pd.io.common.StringIO(rep[1])))


def test_models_score_within_tolerance(runs):
    pandas_doc, dask_doc = _metrics(runs["pandas"]), _metrics(runs["dask"])
    # the folds ran the same pandas code on the same data: same choice, same scores
    assert pandas_doc["chosen"] == dask_doc["chosen"] == "xgboost_v1"
    assert pandas_doc["candidates"] == dask_doc["candidates"]
    scores = pandas_doc["candidates"]
    assert scores["xgboost_v1"]["mean_rmspe"] < scores["seasonal_naive"]["mean_rmspe"]
    # the served models were fitted differently (xgboost.dask on the cluster vs in process):
    # on the last six weeks of the data they score within the tolerance of each other, and
    # their forecasts of test.csv differ by a few percent at most (relative RMS difference)
    import joblib

    from rossmann_kedro.models import metrics as mx

    models = [joblib.load(next((ws / "data/06_models/tree_forecaster.pkl").glob("*/*.pkl")))
              for ws in (runs["pandas"], runs["dask"])]
    sales = pd.read_parquet(runs["pandas"] / "data/03_primary/sales_with_store.parquet")
    last = sales.loc[(sales["Date"] > sales["Date"].max() - pd.Timedelta(days=42))
                     & (sales["Open"] == 1) & (sales["Sales"] > 0)]
    rmspe = [mx.rmspe(last["Sales"], m.predict(last)["Sales"]) for m in models]
    assert abs(rmspe[0] - rmspe[1]) <= RMSPE_TOLERANCE, rmspe
    a, b = (pd.read_parquet(ws / "data" / "07_model_output" / "tree_test_predictions.parquet")
            .set_index("Id").sort_index() for ws in (runs["pandas"], runs["dask"]))
    open_ = a["Sales"] > 0
    rel = np.sqrt(np.mean(((b["Sales"] - a["Sales"])[open_] / a["Sales"][open_]) ** 2))
    assert rel <= PREDICTION_TOLERANCE, rel


def test_dask_trained_model_is_served_over_grpc(runs, tmp_path):
    from rossmann.v1 import forecast_pb2, forecast_pb2_grpc
    from tests.serving.processes import start_server, stop, wait_serving

    ws = runs["dask"]
    batch = pd.read_parquet(ws / "data" / "07_model_output" / "tree_test_predictions.parquet")
    test = pd.read_csv(ws / "data" / "01_raw" / "test.csv", dtype={"StateHoliday": str})
    rows = test.loc[test["Open"] == 1].sample(8, random_state=0)
    log = tmp_path / "server.log"
    proc, port = start_server(ws, log)  # the server as it is: default env, same catalog entry
    try:
        wait_serving(proc, port, log, timeout=90)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = forecast_pb2_grpc.ForecastServiceStub(channel)
            request = forecast_pb2.PredictRequest(model="tree", rows=[
                forecast_pb2.StoreDay(store=int(r.Store), date=r.Date, promo=bool(r.Promo),
                                      state_holiday=r.StateHoliday,
                                      school_holiday=bool(r.SchoolHoliday), id=int(r.Id))
                for r in rows.itertuples()])
            reply = stub.Predict(request, timeout=30)
    finally:
        stop(proc)
    served = pd.Series({p.id: p.sales for p in reply.predictions})
    expected = batch.set_index("Id").loc[served.index, "Sales"]
    assert len(served) == len(rows) and (served > 0).all()
    np.testing.assert_allclose(served.to_numpy(), expected.to_numpy(), rtol=1e-6)
