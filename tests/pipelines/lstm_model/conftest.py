"""Fixtures for the lstm_model tests: a planted-pattern data set and a tiny trained forecaster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

# Overrides of conf/base/parameters_lstm_model.yml: small enough to train in a few seconds on
# 2 cores, big enough to learn a weekly pattern.
TINY_CONFIG = {
    "seed": 0, "early_stopping_weeks": 4, "window_days": 14, "horizon_days": 35,
    "lstm_units": [8, 8], "store_embedding_dim": 2, "dense_units": [16, 8],
    "targets_per_window": 14, "anchor_stride_days": 2, "min_valid_days": 5, "epochs": 12,
    "early_stopping_patience": 3, "batch_size": 64, "learning_rate": 0.01,
    "scaler_robust_quantile": 0.0, "interval_level": 0.8,
    "ensemble_members": 2,  # as the project's default
}


def project_parameters() -> dict:
    from rossmann_kedro.config import load_parameters
    from rossmann_kedro.workspace import PROJECT_ROOT

    return load_parameters(PROJECT_ROOT)


def tiny_config(**overrides):
    """The project's lstm_model settings with TINY_CONFIG (and `overrides`) applied."""
    from rossmann_kedro.pipelines.lstm_model.config import LSTMModelConfig

    return LSTMModelConfig.model_validate(
        {**project_parameters()["lstm_model"], **TINY_CONFIG, **overrides})


WEEKLY = np.array([1.35, 1.0, 0.9, 0.9, 1.1, 0.75, 0.55])  # Mon..Sun, planted


def planted_tables(n_stores: int = 4, days: int = 280, seed: int = 1):
    """Kaggle/sales_clean-format sales with a strong planted weekly pattern (every day open, no
    promos or holidays), a store table and test-format rows for the 28 days after the end."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2014-01-01", periods=days, freq="D")
    level = rng.uniform(3000, 9000, n_stores)
    rows = []
    for s in range(n_stores):
        noise = np.exp(rng.normal(0, 0.03, days))
        sales = level[s] * WEEKLY[dates.day_of_week.to_numpy()] * noise
        rows.append(pd.DataFrame({
            "Store": s + 1, "DayOfWeek": dates.day_of_week + 1, "Date": dates,
            "Sales": np.round(sales).astype(np.int64), "Customers": np.round(sales / 8).astype(np.int64),
            "Open": 1, "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0, "SalesOutlier": False,
        }))
    sales = pd.concat(rows, ignore_index=True).astype({"DayOfWeek": np.int64})
    stores = pd.DataFrame({
        "Store": np.arange(1, n_stores + 1), "StoreType": "a", "Assortment": "a",
        "CompetitionDistance": 1000.0, "CompetitionDistanceMissing": False,
        "CompetitionOpenSinceMonth": 0, "CompetitionOpenSinceYear": 0, "Promo2": 0,
        "Promo2SinceWeek": 0, "Promo2SinceYear": 0, "PromoInterval": "",
    })
    future = pd.date_range(dates[-1] + pd.Timedelta(days=1), periods=28, freq="D")
    test = pd.DataFrame([(i, s, d.day_of_week + 1, d, 1, 0, "0", 0)
                         for i, (s, d) in enumerate(((s, d) for s in range(1, n_stores + 1)
                                                     for d in future), start=1)],
                        columns=["Id", "Store", "DayOfWeek", "Date", "Open", "Promo",
                                 "StateHoliday", "SchoolHoliday"])
    return sales, stores, test


@pytest.fixture(scope="session")
def planted():
    return planted_tables()


@pytest.fixture(scope="session")
def tiny_forecaster(planted):
    """A tiny LSTM trained on the planted data; history ends the day before validation."""
    from rossmann_kedro.features import FeatureContext
    from rossmann_kedro.models.lstm import train_network

    sales, stores, test = planted
    cutoff = sales["Date"].max() - pd.Timedelta(weeks=4)
    context = FeatureContext.fit(sales, stores, calendar_rows=test, train_end=cutoff,
                                 params=project_parameters()["feature_engineering"]["context"])
    # the members in their own processes, as the default config trains them
    return train_network(sales, context, tiny_config(), member_processes=2), cutoff
