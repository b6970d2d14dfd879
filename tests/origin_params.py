"""Tiny feature-context, tree and backtest parameters shared by the origin-frame and
store-sample tests (pandas and Dask): small enough for seconds, every code path real."""

CONTEXT = {"holiday_cap_days": 30, "yearly_cap_days": 60, "promo_cap_days": 14,
           "recent_weeks": 13, "calendar_margin_days": 400, "calendar_horizon_days": 1100,
           "reopen_gap_days": 7, "reopen_cap_days": 365, "horizon_cap_days": 100,
           "outlier_threshold": 5.0}
TINY_XGB = {"n_estimators": 20, "max_depth": 4, "learning_rate": 0.3, "tree_method": "hist",
            "n_jobs": 1, "random_state": 0}
TREE = {"drop_outliers": False, "log_every": 0, "origin_row_fraction": 1.0,
        "recency_half_life_days": 365.0, "candidates": {
    "xgboost": {"family": "xgboost", "features": "all", "training": "origins",
                "params": TINY_XGB},
    "xgboost_v1": {"family": "xgboost", "features": "legacy", "training": "one_window",
                   "params": TINY_XGB}}}
ORIGINS = {"horizon_days": 42, "step_days": 42, "min_history_days": 182, "seed": 0}
BACKTEST = {"max_stores": None, "seed": 0, "n_folds": 2, "naive_weeks": 8,
            "models": ["seasonal_naive", "xgboost", "xgboost_v1"]}


def origin_fe_params(max_stores: int | None, seed: int = 0) -> dict:
    """feature_engineering parameters with an origin frame of `max_stores` sampled stores."""
    return {"context": CONTEXT, "origins": {**ORIGINS, "max_stores": max_stores, "seed": seed}}
