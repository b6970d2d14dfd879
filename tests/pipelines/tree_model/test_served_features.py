"""Each candidate is served the holiday distances it learnt from."""

from __future__ import annotations

from rossmann_kedro.features import (
    FEATURE_NAMES,
    GRID_DISTANCE_FEATURES,
    LEGACY_FEATURE_NAMES,
    ORIGIN_FEATURE_NAMES,
)
from rossmann_kedro.models.candidates import CandidateSpec

PARAMS = {"n_estimators": 5, "n_jobs": 1, "random_state": 0}


def _spec(features: str, training: str) -> CandidateSpec:
    return CandidateSpec.from_params("c", {"family": "xgboost", "features": features,
                                           "training": training, "params": PARAMS})


def test_origin_frame_candidates_read_the_grids_distances_in_the_same_places() -> None:
    """The origin frame's rows after each origin had the grid's (extrapolated) distances: such a
    candidate reads those, in the columns where the row-agreeing ones were, so its design matrix
    is the one it had before the row-agreeing distances existed."""
    spec = _spec("all", "origins")
    assert len(spec.features) == len(LEGACY_FEATURE_NAMES) + len(ORIGIN_FEATURE_NAMES)
    for agreeing, grid in GRID_DISTANCE_FEATURES.items():
        i = (LEGACY_FEATURE_NAMES + ORIGIN_FEATURE_NAMES).index(agreeing)
        assert spec.features[i] == grid and agreeing not in spec.features
    others = [f for f in spec.features if f not in GRID_DISTANCE_FEATURES.values()]
    assert others == [f for f in LEGACY_FEATURE_NAMES + ORIGIN_FEATURE_NAMES
                      if f not in GRID_DISTANCE_FEATURES]
    assert _spec("legacy", "origins").features == tuple(
        GRID_DISTANCE_FEATURES.get(f, f) for f in LEGACY_FEATURE_NAMES)


def test_one_window_candidates_read_the_row_agreeing_distances() -> None:
    """Trained on the files' rows, where flag and grid agree: served the distances that agree
    with the request row."""
    assert _spec("legacy", "one_window").features == LEGACY_FEATURE_NAMES
    spec = _spec("all", "one_window")
    assert spec.features == LEGACY_FEATURE_NAMES + ORIGIN_FEATURE_NAMES
    assert not set(GRID_DISTANCE_FEATURES.values()) & set(spec.features)
    assert set(spec.features) < set(FEATURE_NAMES)
