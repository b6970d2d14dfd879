"""Recency weights: the tree candidates learn the latest behaviour more than the oldest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.features import FEATURE_NAMES
from rossmann_kedro.models.candidates import CandidateSpec, recency_weights


def test_weights_halve_every_half_life_back_from_the_newest_row() -> None:
    dates = pd.Series(pd.to_datetime(["2015-06-19", "2014-06-20", "2013-06-21", "2015-06-18"]))
    w = recency_weights(dates, 364.0)
    np.testing.assert_allclose(w, [1.0, 0.5, 0.25, 2 ** (-1 / 364)])
    assert recency_weights(dates, None) is None
    # a part of the rows weighs as within the whole when given the newest date
    part = recency_weights(dates.iloc[1:3], 364.0, newest=pd.Timestamp("2015-06-19"))
    np.testing.assert_allclose(part, w[1:3])


def _drifting_promo_rows(seed: int = 0) -> pd.DataFrame:
    """Two years of daily rows whose promo uplift changes from +10 % to +80 % in the last 120
    days (a planted drift); every other feature is constant."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2013-07-01", "2015-06-30", freq="D")
    promo = rng.integers(0, 2, len(dates))
    uplift = np.where(dates >= dates[-1] - pd.Timedelta(days=120), np.log(1.8), np.log(1.1))
    log_sales = np.log(5000.0) + promo * uplift + rng.normal(0, 0.02, len(dates))
    rows = pd.DataFrame(0.0, index=np.arange(len(dates)), columns=list(FEATURE_NAMES))
    rows["Promo"] = promo
    rows["Date"] = dates
    rows["Sales"] = np.round(np.expm1(log_sales))
    return rows


@pytest.mark.parametrize("family, params", [
    ("xgboost", {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.3, "n_jobs": 1,
                 "random_state": 0}),
    ("random_forest", {"n_estimators": 10, "max_depth": 3, "n_jobs": 1, "random_state": 0}),
])
def test_recent_behaviour_counts_more_with_recency_weights(family: str, params: dict) -> None:
    rows = _drifting_promo_rows()
    spec = CandidateSpec(name=family, family=family, features=("Promo",), training="origins",
                         params=params)
    probe = rows.iloc[:2].assign(Promo=[0, 1])

    def learnt_uplift(weights) -> float:
        model = spec.fit(rows, rows["Sales"], "test", 0, weights)
        base, promo = model.predict(probe[["Promo"]])
        return float(np.exp(promo - base))

    equal = learnt_uplift(None)
    recent = learnt_uplift(recency_weights(rows["Date"], 30.0))
    # equal weights average the two regimes (~1.2); a 30-day half-life follows the new one (~1.75)
    assert equal < 1.3
    assert recent > 1.6
