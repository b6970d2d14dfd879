"""Runtime parameters that shrink the model pipelines to seconds on the synthetic data while
keeping every code path real (the same candidates, folds, ensembles and served classes)."""

SMALL_TREE_PARAMS = {
    "tree_model": {
        "log_every": 10,
        # n_jobs 1: sklearn's threaded forest sums trees in thread order, so two identical
        # requests could differ in the last bits (the gRPC/REST comparison is exact)
        "candidates": {
            "xgboost_v1": {"params": {"n_estimators": 25}},
            "random_forest": {"params": {"n_estimators": 4, "n_jobs": 1}},
            "xgboost": {"params": {"n_estimators": 25}},
        },
    }
}

SMALL_LSTM_PARAMS = {
    "lstm_model": {
        "window_days": 14, "horizon_days": 60, "lstm_units": [8, 8], "store_embedding_dim": 2,
        "dense_units": [16, 8], "targets_per_window": 8, "anchor_stride_days": 14,
        "epochs": 2, "batch_size": 256, "stationarity": {"max_stores": 2, "nlags": 14},
    }
}


def small_backtest_params(models: list[str] | None = None) -> dict:
    """Backtest + tree parameters for a fast run; `models` limits what the folds score."""
    params = {**SMALL_TREE_PARAMS, **SMALL_LSTM_PARAMS}
    if models is not None:
        params["backtest"] = {"models": models}
    return params
