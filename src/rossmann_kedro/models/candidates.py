"""Tree-model candidates as data: which estimator, which features, which training rows.

The backtest scores every candidate (and weighted ensembles of them) on the same folds, and
tree_model trains the one the backtest chose; both read the definitions from
`conf/base/parameters_tree_model.yml` through `CandidateSpec`, so there is one owner.

Two ways of laying out the training rows:

* ``origins``: the rows of the origin frame (`rossmann_kedro.features.origins`): each day's
  features as a server would have computed them at a forecast origin up to six weeks before
  it, so the model learns how far ahead it is forecasting and from what recent level.
* ``one_window``: every open day before the origin, with features from one context fitted at
  the origin (the configuration served before the backtest round, kept as a reference).

A candidate is served the features it learnt from. On the origin frame's rows after each origin
the holiday distances came from the calendar grid as extrapolated at that origin, so an
``origins`` candidate reads the grid's distances (`GRID_DISTANCE_FEATURES`); a ``one_window``
candidate, trained on the files' rows where flag and grid agree, reads the row-agreeing ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from rossmann_kedro.features import (
    GRID_DISTANCE_FEATURES,
    LEGACY_FEATURE_NAMES,
    ORIGIN_FEATURE_NAMES,
)

from .tree import MODEL_MAKERS, fit_pipeline

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "legacy": LEGACY_FEATURE_NAMES, "all": LEGACY_FEATURE_NAMES + ORIGIN_FEATURE_NAMES}
TRAINING_LAYOUTS = ("origins", "one_window")
_KEYS = {"family", "features", "training", "params"}


@dataclass(frozen=True)
class CandidateSpec:
    """One candidate tree model (see the module docstring)."""

    name: str
    family: str
    features: tuple[str, ...]
    training: str
    params: dict[str, Any]

    @classmethod
    def from_params(cls, name: str, spec: dict[str, Any]) -> CandidateSpec:
        """Validated spec; errors name the candidate and the bad key."""
        where = f"tree_model.candidates.{name}"
        if hasattr(spec, "to_dict"):  # the typed TreeModelConfig's candidate
            spec = spec.to_dict()
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(spec).__name__}")
        missing, extra = _KEYS - set(spec), set(spec) - _KEYS
        if missing or extra:
            raise ValueError(f"{where}: missing keys {sorted(missing)}, unknown keys "
                             f"{sorted(extra)}")
        if spec["family"] not in MODEL_MAKERS:
            raise ValueError(f"{where}.family: {spec['family']!r} not in {sorted(MODEL_MAKERS)}")
        if spec["features"] not in FEATURE_SETS:
            raise ValueError(f"{where}.features: {spec['features']!r} not in "
                             f"{sorted(FEATURE_SETS)}")
        if spec["training"] not in TRAINING_LAYOUTS:
            raise ValueError(f"{where}.training: {spec['training']!r} not in {TRAINING_LAYOUTS}")
        return cls(name=name, family=spec["family"],
                   features=served_features(FEATURE_SETS[spec["features"]], spec["training"]),
                   training=spec["training"], params=dict(spec["params"]))

    def make(self) -> Pipeline:
        return MODEL_MAKERS[self.family](self.params, self.features)

    def fit(self, X: pd.DataFrame, sales: pd.Series, label: str, log_every: int,
            sample_weight: np.ndarray | None = None) -> Pipeline:
        """Fit on log1p(Sales) of rows with Sales > 0 (weighted by `sample_weight` if given)."""
        return fit_pipeline(self.make(), X[list(self.features)],
                            np.log1p(sales.to_numpy(np.float64)), log_every=log_every,
                            label=f"{self.name} ({label})", sample_weight=sample_weight)


def served_features(features: tuple[str, ...], training: str) -> tuple[str, ...]:
    """`features` as a candidate trained with `training` reads them: an ``origins`` candidate
    reads the calendar grid's holiday distances in the same places (module docstring)."""
    if training == "origins":
        return tuple(GRID_DISTANCE_FEATURES.get(f, f) for f in features)
    return tuple(features)


def candidate_specs(tree_params: dict[str, Any]) -> dict[str, CandidateSpec]:
    return {name: CandidateSpec.from_params(name, spec)
            for name, spec in tree_params["candidates"].items()}


def ensemble_specs(tree_params: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Weighted ensembles of candidates (weights normalised to 1), validated."""
    cands = set(tree_params["candidates"])
    out = {}
    for name, members in (tree_params["ensembles"] or {}).items():
        members = dict(members)
        unknown = set(members) - cands
        if unknown or not members:
            raise ValueError(f"tree_model.ensembles.{name}: unknown candidates {sorted(unknown)}"
                             if unknown else f"tree_model.ensembles.{name}: no members")
        total = float(sum(members.values()))
        if total <= 0 or min(members.values()) < 0:
            raise ValueError(f"tree_model.ensembles.{name}: weights must be >= 0, sum > 0")
        out[name] = {m: float(w) / total for m, w in members.items()}
    return out


def trainable_rows(rows: pd.DataFrame, drop_outliers: bool) -> pd.DataFrame:
    """Rows a model learns from: Sales > 0 (open days), minus flagged outliers if asked."""
    keep = rows["Sales"] > 0
    if drop_outliers and "SalesOutlier" in rows:
        keep &= ~rows["SalesOutlier"].astype(bool)
    return rows.loc[keep]


def recency_weights(dates: pd.Series, half_life_days: float | None,
                    newest: pd.Timestamp | None = None) -> np.ndarray | None:
    """Training weights that halve every `half_life_days` back from the newest row's date (1
    there; `newest` gives it when `dates` are one part of the rows), or None (equal weights)
    for a null half-life. Why: the chain's sales pattern drifts (store levels, promo response),
    so the latest year should count more than the first; on the backtest folds a one-year
    half-life beat equal weights (README, backtest)."""
    if half_life_days is None:
        return None
    day = pd.to_datetime(dates).to_numpy("datetime64[D]").astype(np.int64)
    if newest is None:
        newest = day.max() if len(day) else 0
    else:
        newest = np.datetime64(pd.Timestamp(newest), "D").astype(np.int64)
    return np.exp2(-(newest - day) / float(half_life_days))


def origin_training_rows(frame: pd.DataFrame, drop_outliers: bool, fraction: float,
                         seed: int = 0) -> pd.DataFrame:
    """Trainable rows of the origin frame, a seeded `fraction` of them: with origins closer
    together than the horizon each day appears once per origin that covers it (at a different
    horizon), so a fraction keeps the training set near the size of the history while every
    origin's situation is represented."""
    rows = trainable_rows(frame, drop_outliers)
    if not 0 < fraction <= 1:
        raise ValueError(f"tree_model.origin_row_fraction must be in (0, 1], got {fraction}")
    if fraction < 1:
        rows = rows.sample(frac=fraction, random_state=seed).sort_index()
    return rows
