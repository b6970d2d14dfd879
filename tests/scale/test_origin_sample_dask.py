"""The Dask variants of the origin frame and the backtest with a store sample: the same frame
and the same forecasts as the pandas nodes, and the backtest gathers only the history of the
stores it trains and scores on (what keeps the driver bounded on a large chain)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.pipelines.backtest import nodes as bt
from rossmann_kedro.pipelines.feature_engineering import nodes as fe
from rossmann_kedro.scale import backtest as dask_bt
from rossmann_kedro.scale import feature_engineering as dask_fe
from tests.origin_params import BACKTEST, TREE, origin_fe_params


@pytest.fixture(scope="module")
def dask_tables(clean_sales_tables):
    import dask.dataframe as dd

    sales, stores = clean_sales_tables
    pdf = (sales.merge(stores, on="Store", how="left")
           .sort_values(["Store", "Date"]).reset_index(drop=True))
    # partitions of whole stores (4 each), as the Dask environment's datasets are
    ids = np.sort(pdf["Store"].unique())
    ddf = dd.concat([dd.from_pandas(pdf.loc[pdf["Store"].isin(ids[i:i + 4])], npartitions=1)
                     for i in range(0, len(ids), 4)])
    return pdf, ddf, stores


def _gathered_rows(caplog, what: str) -> int:
    line = next(r.getMessage() for r in caplog.records if f"gathered {what}" in r.getMessage())
    return int(re.search(r": (\d+) rows", line).group(1))


@pytest.mark.parametrize("max_stores", [None, 5])
def test_dask_origin_frame_equals_pandas(dask_tables, max_stores) -> None:
    pdf, ddf, stores = dask_tables
    expected = fe.build_origin_frame(pdf, stores, origin_fe_params(max_stores))
    got = dask_fe.build_origin_frame(ddf, stores, origin_fe_params(max_stores))
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("backtest_max", [None, 3])
def test_dask_backtest_gathers_only_the_stores_it_scores(dask_tables, caplog,
                                                          backtest_max) -> None:
    pdf, ddf, stores = dask_tables
    params, fe_params = {**BACKTEST, "max_stores": backtest_max}, origin_fe_params(5)
    frame = fe.build_origin_frame(pdf, stores, fe_params)
    expected = bt.run_backtest(frame, pdf, stores, fe_params, TREE, {}, params)
    with caplog.at_level(logging.INFO, logger="rossmann_kedro"):
        got = dask_bt.run_backtest(frame, ddf, stores, fe_params, TREE, {}, params)
    pd.testing.assert_frame_equal(got, expected)
    scored = np.unique(got["Store"])
    assert len(scored) == (backtest_max or 5)
    assert _gathered_rows(caplog, "history for the backtest folds") == \
        int(pdf["Store"].isin(scored).sum()) < len(pdf)
