"""Store-specific event gaps added to a model's log forecast, at weights the backtest learnt.

The feature context learns each store's log-sales gap on Carnival days and on the state holidays
it opens (`store_carnival_effect`, `store_holiday_effect`: 0 on other days). The trees see them
as features but learn them from two or three past occurrences, and the one-window member of the
served blend does not see them at all: on the real folds the served forecast missed about 60 % of
a Rhineland store's Rosenmontag gap. The backtest therefore tries adding `weight x gap` to the
log forecast and keeps a weight only if it holds leave-one-fold-out (as the bias correction);
the forecasters add the same shift at request time, from the same features.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from rossmann_kedro.features import FEATURE_NAMES

#: The learnt store event gaps an adjustment may use, in the order the backtest tests them.
EVENT_EFFECTS: tuple[str, ...] = ("store_carnival_effect", "store_holiday_effect")
_COLUMN = {name: FEATURE_NAMES.index(name) for name in EVENT_EFFECTS}


def checked_event_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """`weights` as plain floats (None = no adjustment); an unknown effect name is a ValueError."""
    unknown = set(weights or {}) - set(EVENT_EFFECTS)
    if unknown:
        raise ValueError(f"unknown event effects {sorted(unknown)}; known: {list(EVENT_EFFECTS)}")
    return {name: float(w) for name, w in (weights or {}).items()}


def event_shift(weights: Mapping[str, float], features: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Log-scale shift of each row: sum over effects of weight x the store's gap on the row's day.

    `features` is a (rows x FEATURE_NAMES) matrix, as `feature_matrix` / `build_features` give,
    or a frame with the effect columns (the backtest's predictions); an empty `weights` (no
    adjustment held in the backtest) shifts nothing."""
    shift = np.zeros(len(features))
    for name, weight in weights.items():
        if weight:
            column = (features[name].to_numpy() if isinstance(features, pd.DataFrame)
                      else features[:, _COLUMN[name]])
            shift += float(weight) * np.asarray(column, dtype=np.float64)
    return shift
