"""Fixtures shared by the whole suite: where the real data is, and small synthetic raw data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "rossmann"

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real Kaggle files beside the repo; tests using it skip when it is absent."""
    if not (REAL_DATA_DIR / "train.csv.gz").is_file():
        pytest.skip(f"real Rossmann data not found at {REAL_DATA_DIR}")
    return REAL_DATA_DIR


@pytest.fixture(scope="session")
def small_raw_tables() -> dict:
    """Small synthetic Kaggle-format tables (12 stores), generated once per session."""
    from rossmann_kedro.synthetic import generate

    return generate(n_stores=12, seed=7)


@pytest.fixture(scope="session")
def clean_sales_tables(small_raw_tables) -> tuple:
    """(sales, stores) of the small chain as data_processing leaves them (no outliers flagged),
    sales sorted by Date and Store: the input of the origin frame and the backtest."""
    from rossmann_kedro.pipelines.data_processing import nodes as dp

    sales = dp.validate_train(small_raw_tables["train"]).assign(SalesOutlier=False)
    stores = dp.fill_store_missing(dp.validate_store(small_raw_tables["store"]),
                                   {"competition_distance_fill": 100000})
    return sales.sort_values(["Date", "Store"]).reset_index(drop=True), stores
