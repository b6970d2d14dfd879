"""`feature_engineering.origins.max_stores`: the origin frame of a seeded sample of whole
stores, whose rows equal those stores' rows in the full frame (contexts fitted on every store),
and a backtest that then trains and scores on exactly those stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from rossmann_kedro.config import load_parameters
from rossmann_kedro.features.origins import sample_stores
from rossmann_kedro.pipelines.backtest.nodes import backtest_stores, run_backtest
from rossmann_kedro.pipelines.feature_engineering.config import FeatureEngineeringConfig
from rossmann_kedro.pipelines.feature_engineering.nodes import build_origin_frame
from tests.origin_params import BACKTEST, TREE, origin_fe_params


@pytest.fixture(scope="module")
def full_frame(clean_sales_tables):
    sales, stores = clean_sales_tables
    return build_origin_frame(sales, stores, origin_fe_params(None))


def test_sample_is_seeded_sorted_and_independent_of_order_and_dtype() -> None:
    ids = np.arange(1, 101)
    a = sample_stores(ids, 10, seed=3)
    assert len(a) == 10 and len(set(a)) == 10 and set(a) <= set(ids)
    assert np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, sample_stores(ids, 10, seed=3))
    shuffled = np.random.default_rng(0).permutation(ids).astype(np.int16)
    np.testing.assert_array_equal(a, sample_stores(pd.Series(shuffled), 10, seed=3))
    assert not np.array_equal(a, sample_stores(ids, 10, seed=4))


def test_null_or_enough_means_every_store() -> None:
    ids = np.arange(1, 13)
    assert sample_stores(ids, None, seed=0) is None
    assert sample_stores(ids, 12, seed=0) is None
    assert len(sample_stores(ids, 11, seed=0)) == 11


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_an_invalid_max_stores_names_the_setting(bad) -> None:
    with pytest.raises(ValueError, match=r"feature_engineering\.origins\.max_stores must be"):
        sample_stores(np.arange(5), bad, seed=0,
                      setting="feature_engineering.origins.max_stores")


def test_config_rejects_a_bad_value_by_name_and_dask_env_bounds_it() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    base = load_parameters(root)["feature_engineering"]
    assert base["origins"]["max_stores"] is None                # pandas: every store
    FeatureEngineeringConfig(**base)
    bad = {**base, "origins": {**base["origins"], "max_stores": 0}}
    with pytest.raises(ValidationError, match=r"origins\.max_stores"):
        FeatureEngineeringConfig(**bad)
    dask = load_parameters(root, env="dask")["feature_engineering"]
    assert isinstance(dask["origins"]["max_stores"], int)
    # the env overrides that one key; the rest is base's
    assert {k: v for k, v in dask["origins"].items() if k != "max_stores"} == \
        {k: v for k, v in base["origins"].items() if k != "max_stores"}


def test_sampled_frame_holds_whole_stores_with_the_full_frames_rows(clean_sales_tables,
                                                                   full_frame) -> None:
    sales, stores = clean_sales_tables
    sampled = build_origin_frame(sales, stores, origin_fe_params(4))
    kept = np.unique(sampled["Store"])
    assert len(kept) == 4
    np.testing.assert_array_equal(kept, sample_stores(sales["Store"], 4, seed=0))
    # every row of those stores, with the features of the full run (contexts saw all stores)
    expected = full_frame.loc[full_frame["Store"].isin(kept)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sampled, expected)
    again = build_origin_frame(sales, stores, origin_fe_params(4))
    pd.testing.assert_frame_equal(sampled, again)
    other = build_origin_frame(sales, stores, origin_fe_params(4, seed=1))
    assert set(np.unique(other["Store"])) != set(kept)


def test_backtest_trains_and_scores_only_the_sampled_stores(clean_sales_tables,
                                                           full_frame) -> None:
    sales, stores = clean_sales_tables
    fe = origin_fe_params(5)
    frame = build_origin_frame(sales, stores, fe)
    kept = np.unique(frame["Store"])
    got = run_backtest(frame, sales, stores, fe, TREE, {}, BACKTEST)
    assert set(got["Store"]) == set(kept)
    # the same as a full-chain backtest given only those stores' history and rows
    alone = run_backtest(full_frame.loc[full_frame["Store"].isin(kept)],
                         sales.loc[sales["Store"].isin(kept)], stores, origin_fe_params(None), TREE, {},
                         BACKTEST)
    pd.testing.assert_frame_equal(got, alone)
    # backtest.max_stores samples further, among the frame's stores
    fewer = backtest_stores(frame, sales["Store"].unique(), fe, {**BACKTEST, "max_stores": 2})
    assert len(fewer) == 2 and set(fewer) <= set(kept)


def test_backtest_refuses_a_frame_built_with_another_sample(clean_sales_tables,
                                                            full_frame) -> None:
    sales, stores = clean_sales_tables
    with pytest.raises(ValueError, match=r"outside the sample of feature_engineering\.origins"
                                         r"\.max_stores: re-run feature_engineering"):
        run_backtest(full_frame, sales, stores, origin_fe_params(5), TREE, {}, BACKTEST)
