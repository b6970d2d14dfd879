"""Tree models (RandomForest baseline, XGBoost) as sklearn Pipelines, and `TreeForecaster`, the
served object that wraps one of them with its feature context and interval calibration.

Loss: both models fit log1p(Sales) with squared error. A squared error on the log scale is
(to first order) a squared *relative* error, which is what RMSPE scores; plain MSE on Sales lets
the big stores dominate the fit and over-predicts small ones in relative terms. The tree_model
pipeline measures the difference (`loss_comparison` in the metrics).

Preprocessing: a ColumnTransformer with a StandardScaler on the continuous features, the codes
and counters passed through. Trees split on thresholds, so scaling changes nothing for RF or
XGBoost (same splits, same predictions); the scaler is there so that the same preprocessing
stage can feed scale-sensitive models (linear, neural) and so the fitted Pipeline documents the
feature scales.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from rossmann_kedro.features import (
    CONTINUOUS_FEATURES,
    FEATURE_NAMES,
    FeatureContext,
    build_features,
    feature_matrix,
)
from rossmann_kedro.forecaster import PREDICTION_COLUMNS, RequestRows

from .events import checked_event_weights, event_shift
from .intervals import HorizonConformalInterval

logger = logging.getLogger(__name__)

_OUTPUT_COLUMNS = pd.Index(PREDICTION_COLUMNS)


def make_preprocessor(features: list[str] | tuple[str, ...] = FEATURE_NAMES) -> ColumnTransformer:
    """StandardScaler on the continuous ones of `features`, codes/flags/counters unchanged; other
    columns are dropped."""
    scaled = [f for f in features if f in CONTINUOUS_FEATURES]
    passthrough = [f for f in features if f not in CONTINUOUS_FEATURES]
    return ColumnTransformer(
        [("scale", StandardScaler(), scaled),
         ("keep", "passthrough", passthrough)],
        verbose_feature_names_out=False,
    )


def make_random_forest(params: dict[str, Any],
                       features: list[str] | tuple[str, ...] = FEATURE_NAMES) -> Pipeline:
    return Pipeline([("prep", make_preprocessor(features)),
                     ("model", RandomForestRegressor(**params))])


def make_xgboost(params: dict[str, Any],
                 features: list[str] | tuple[str, ...] = FEATURE_NAMES) -> Pipeline:
    from xgboost import XGBRegressor

    return Pipeline([("prep", make_preprocessor(features)), ("model", XGBRegressor(**params))])


MODEL_MAKERS = {"random_forest": make_random_forest, "xgboost": make_xgboost}


class _LogEvery:
    """XGBoost callback: eval metrics through `logging` every `every` rounds."""

    def __new__(cls, every: int, label: str):
        from xgboost.callback import TrainingCallback

        class LogEvery(TrainingCallback):
            def __init__(self) -> None:
                super().__init__()
                self.t0 = time.perf_counter()

            def after_iteration(self, model, epoch, evals_log) -> bool:
                if every > 0 and ((epoch + 1) % every == 0 or epoch == 0):
                    parts = [f"{data}-{metric}={vals[-1]:.5f}"
                             for data, metrics in evals_log.items()
                             for metric, vals in metrics.items()]
                    logger.info("%s round %d: %s (%.1fs)", label, epoch + 1,
                                " ".join(parts) or "no eval set",
                                time.perf_counter() - self.t0)
                return False

        return LogEvery()


def fit_pipeline(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    eval_set: tuple[pd.DataFrame, np.ndarray] | None = None,
    log_every: int = 100,
    label: str = "model",
    sample_weight: np.ndarray | None = None,
) -> Pipeline:
    """Fit preprocessing then the estimator (rows weighted by `sample_weight` if given); for
    XGBoost, log the eval metric every `log_every` rounds on `eval_set` (transformed by the
    fitted preprocessing)."""
    t0 = time.perf_counter()
    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    Xt = prep.fit_transform(X)
    kwargs: dict[str, Any] = {}
    if model.__class__.__name__ == "XGBRegressor":
        # only the held-out set is evaluated each round (the training set would cost ~40%)
        if eval_set is not None:
            kwargs = {"eval_set": [(prep.transform(eval_set[0]), eval_set[1])]}
        model.set_params(callbacks=[_LogEvery(log_every, label)])
        kwargs["verbose"] = False
    model.fit(Xt, y, sample_weight=sample_weight, **kwargs)
    if hasattr(model, "callbacks"):
        model.set_params(callbacks=None)  # keep the pickled model free of logging closures
    logger.info("%s fitted on %d rows x %d features in %.1fs", label, len(X), X.shape[1],
                time.perf_counter() - t0)
    return pipeline


class TreeForecaster:
    """The served tree model (implements `rossmann_kedro.forecaster.Forecaster`).

    Holds the `FeatureContext` frozen at training time (its `train_end` is the forecast origin),
    one or more fitted sklearn Pipelines predicting log1p(Sales) whose weighted mean is the
    forecast (an ensemble chosen by the backtest), a log-scale shift (the bias correction the
    backtest learnt, 0 for none), the weights of the store event gaps added to the log forecast
    (`rossmann_kedro.models.events`; empty for none), the horizon-banded conformal interval
    calibrated on backtest residuals, and metadata. `predict` is the only scoring path: batch
    scoring in the pipeline and the gRPC server both call it, so served and batch numbers are
    identical.
    """

    name = "tree"

    def __init__(
        self,
        context: FeatureContext,
        members: list[Pipeline],
        weights: list[float],
        interval: HorizonConformalInterval,
        log_shift: float = 0.0,
        metadata: dict[str, Any] | None = None,
        event_weights: Mapping[str, float] | None = None,
    ) -> None:
        if not members or len(members) != len(weights):
            raise ValueError("need one weight per member pipeline, and at least one member")
        if not np.isclose(sum(weights), 1.0) or min(weights) < 0:
            raise ValueError(f"member weights must be >= 0 and sum to 1, got {weights}")
        self.context = context
        self.members = list(members)
        self.weights = [float(w) for w in weights]
        self.interval = interval
        self.log_shift = float(log_shift)
        self.event_weights = checked_event_weights(event_weights)
        self.stores: frozenset[int] = context.stores
        self.metadata: dict[str, Any] = {
            "name": self.name,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "train_start": context.train_start,
            "train_end": context.train_end,
            "interval_level": interval.level,
            "event_weights": dict(self.event_weights),
            "feature_names": sorted({f for m in self.members for f in member_features(m)},
                                    key=FEATURE_NAMES.index),
            **(metadata or {}),
        }

    @property
    def pipeline(self) -> Pipeline:
        """The first (largest-weight) member: what feature importance describes."""
        return self.members[int(np.argmax(self.weights))]

    def _scorers(self) -> list[_FastScorer]:
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self._fast = [_FastScorer(m) for m in self.members]
        return fast

    def predict_log(self, rows: RequestRows) -> tuple[np.ndarray, np.ndarray]:
        """(log1p(Sales) point predictions, days after the origin) for every row, open or not."""
        # the bare matrix (features x rows), not build_features' DataFrame: same numbers, and
        # ~0.1 ms less per request
        X = feature_matrix(rows, self.context).T
        pred = np.zeros(len(X))
        for w, scorer in zip(self.weights, self._scorers(), strict=False):
            pred += w * scorer.predict(X)
        return pred + self.log_shift + event_shift(self.event_weights, X), X[:, _HORIZON]

    def check_fast_path(self, rows: pd.DataFrame) -> float:
        """Largest relative difference between the numpy scoring path and `Pipeline.predict`,
        over all members."""
        X = build_features(rows, self.context)
        return max(s.check(m, X) for s, m in zip(self._scorers(), self.members, strict=False))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # derived from the pipelines: rebuilt on load
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("event_weights", {})  # pickled before event adjustments: none
        self.__dict__.update(state)
        # build the scorers now, so the first request after a (re)load pays nothing extra
        self._fast = None
        self._scorers()

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Sales with lower/upper bounds on `rows`' index; closed days (Open == 0) give 0, 0..0.

        A missing `Open` column or value means open (as in test.csv).
        """
        if len(rows) == 0:
            return pd.DataFrame(0.0, index=rows.index, columns=_OUTPUT_COLUMNS)
        out = self.predict_arrays(rows)
        # a shared (immutable) Index: building one per call costs more than the whole frame
        return pd.DataFrame(out, index=rows.index, columns=_OUTPUT_COLUMNS, copy=False)

    def predict_arrays(self, rows: RequestRows) -> np.ndarray:
        """`predict` without the DataFrames (`ArrayForecaster`): request columns as a mapping of
        arrays (or a frame) in, an (n, 3) float64 Sales/lower/upper array out. The serving path:
        building the frames costs ~0.3 ms per request, more than the trees."""
        pred_log, horizon = self.predict_log(rows)  # validates every row, open or not
        if "Open" in rows:
            open_ = np.asarray(rows["Open"])
            if open_.dtype.kind in "iub":  # the serving path: no NaN possible, no parsing
                open_ = open_ != 0
            else:
                open_ = pd.to_numeric(pd.Series(open_), errors="coerce").fillna(1).to_numpy() != 0
        else:
            open_ = np.ones(len(pred_log), dtype=bool)
        stores = np.asarray(rows["Store"]).astype(np.int64, copy=False)
        lower, upper = self.interval.bounds(stores, pred_log, horizon)
        sales = np.maximum(np.expm1(pred_log), 0.0)
        return np.column_stack([
            np.where(open_, sales, 0.0),
            np.where(open_, np.minimum(lower, sales), 0.0),
            np.where(open_, np.maximum(upper, sales), 0.0),
        ])

    def __repr__(self) -> str:
        m = self.metadata
        return (f"TreeForecaster({m.get('estimator')}, {len(self.members)} member(s), trained "
                f"{m['train_start']}..{m['train_end']}, {len(self.stores)} stores, at "
                f"{m['trained_at']})")


_HORIZON = FEATURE_NAMES.index("horizon_days")


def member_features(pipeline: Pipeline) -> list[str]:
    """The features a member Pipeline reads, in its preprocessor's input order."""
    return list(pipeline.named_steps["prep"].get_feature_names_out())


class _FastScorer:
    """The fitted Pipeline's arithmetic on plain numpy, for request-sized inputs.

    `Pipeline.predict` through a ColumnTransformer costs ~4 ms per call in pandas bookkeeping,
    which alone would break the serving latency budget. This applies the same column order and
    the same StandardScaler arithmetic, then calls the estimator on the array (XGBoost: its own
    `inplace_predict` for large batches, `_NumpyTrees` for request-sized ones). `check` compares
    both with `Pipeline.predict`; the tree_model pipeline runs it on every build.
    """

    # up to here numpy trees beat inplace_predict (measured, 300 trees of depth 10: 1 row 0.07 vs
    # 1.4 ms, 64 rows 0.9 vs 1.9 ms, 128 rows 2.0 vs 2.8 ms)
    SMALL = 128

    def __init__(self, pipeline: Pipeline) -> None:
        prep: ColumnTransformer = pipeline.named_steps["prep"]
        model = pipeline.named_steps["model"]
        names = list(FEATURE_NAMES)
        self.order = np.array([names.index(n) for n in prep.get_feature_names_out()])
        scaler = prep.named_transformers_["scale"]
        self.n_scaled = len(scaler.mean_) if scaler.mean_ is not None else 0
        # StandardScaler casts its statistics to the input dtype (float32) before use
        self.mean = np.asarray(scaler.mean_).astype(np.float32)
        self.scale = np.asarray(scaler.scale_).astype(np.float32)
        self.model = model
        self.booster = self.small = None
        if model.__class__.__name__ == "XGBRegressor":
            self.booster = model.get_booster()
            self.small = _NumpyTrees(self.booster)

    def transform(self, X: np.ndarray) -> np.ndarray:
        Xt = np.ascontiguousarray(X[:, self.order], dtype=np.float32)
        k = self.n_scaled
        # in place on float32, exactly StandardScaler's arithmetic, so that values sitting on a
        # tree split threshold go the same way as through the Pipeline
        scaled = Xt[:, :k]
        scaled -= self.mean
        scaled /= self.scale
        Xt[:, :k] = scaled
        return Xt

    def predict(self, X: np.ndarray) -> np.ndarray:
        Xt = self.transform(X)
        if self.booster is not None:
            if len(Xt) <= self.SMALL:
                return self.small.predict(Xt)
            return np.asarray(self.booster.inplace_predict(Xt), dtype=np.float64)
        return np.asarray(self.model.predict(Xt), dtype=np.float64)

    def check(self, pipeline: Pipeline, X: pd.DataFrame) -> float:
        """Largest relative difference between `pipeline.predict` and this scorer on X, both
        for the whole batch and in request-sized chunks (the numpy tree path)."""
        if not len(X):
            return 0.0
        ref = np.asarray(pipeline.predict(X), dtype=np.float64)
        arr = X.to_numpy()
        whole = self.predict(arr)
        n_small = min(len(arr), 128 * self.SMALL)  # a sample is enough: same code per chunk
        chunks = np.concatenate([self.predict(arr[i:min(i + self.SMALL, n_small)])
                                 for i in range(0, n_small, self.SMALL)])
        scale = np.maximum(np.abs(ref), 1e-9)
        return float(max(np.max(np.abs(whole - ref) / scale),
                         np.max(np.abs(chunks - ref[:n_small]) / scale[:n_small])))


class _NumpyTrees:
    """An XGBoost regression booster evaluated with numpy, for request-sized batches.

    XGBoost's `inplace_predict` has a fixed cost of ~3 us per tree per call (~1.4 ms for 300
    trees) even for one row. Here all trees are walked at once, level by level: the nodes of
    every tree live in flat arrays (global node id = tree offset + XGBoost's node id), so one
    level is a handful of 1-D `take`s over an (n_rows, n_trees) array of node ids (~0.1 ms for
    300 trees of depth 10 and one row). It uses XGBoost's own rules (float32 `value < threshold`
    goes left, missing follows `default_left`, float32 leaf values added tree by tree onto the
    base score), so its numbers equal the booster's; `_FastScorer.check` verifies that on every
    run.
    """

    def __init__(self, booster) -> None:
        import json

        model = json.loads(booster.save_raw("json"))
        learner = model["learner"]
        if learner["gradient_booster"]["name"] != "gbtree":
            raise ValueError("only gbtree boosters are supported")
        trees = learner["gradient_booster"]["model"]["trees"]
        base = learner["learner_model_param"]["base_score"].strip("[]")
        self.base_score = np.float32(float(base))
        sizes = [len(t["left_children"]) for t in trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        total = int(offsets[-1])
        self.roots = offsets[:-1].copy()  # global id of each tree's root, in tree order
        self.feature = np.zeros(total, dtype=np.intp)
        self.threshold = np.zeros(total, dtype=np.float32)  # leaves: their value
        self.default_left = np.zeros(total, dtype=bool)
        # children[2 * g] = left child of global node g, children[2 * g + 1] = right child;
        # a leaf is its own child, so walking past it changes nothing
        self.children = np.zeros(2 * total, dtype=np.intp)
        depth = 0
        for i, t in enumerate(trees):
            lo, hi = offsets[i], offsets[i + 1]
            n = hi - lo
            left = np.asarray(t["left_children"], dtype=np.intp)
            leaf = left < 0
            own = np.arange(lo, hi, dtype=np.intp)
            self.children[2 * lo:2 * hi:2] = np.where(leaf, own, left + lo)
            self.children[2 * lo + 1:2 * hi:2] = np.where(
                leaf, own, np.asarray(t["right_children"], dtype=np.intp) + lo)
            self.feature[lo:hi] = np.where(leaf, 0, t["split_indices"])
            self.threshold[lo:hi] = np.asarray(t["split_conditions"], dtype=np.float32)
            self.default_left[lo:hi] = np.asarray(t["default_left"], dtype=bool)
            parents = np.asarray(t["parents"], dtype=np.int64)
            d = np.zeros(n, dtype=np.int64)
            while True:  # node depth = parent's depth + 1, iterated to a fixed point
                nd = np.concatenate([[0], d[parents[1:]] + 1])
                if np.array_equal(nd, d):
                    break
                d = nd
            depth = max(depth, int(d.max()))
        self.depth = depth
        self.n_trees = len(trees)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """(n_rows, n_trees) global ids of the leaf each row reaches in each tree."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        n, n_features = X.shape
        flat = X.ravel()
        node = np.tile(self.roots, (n, 1))
        # feature index -> position in `flat`: row r's features start at r * n_features
        row_start = (np.arange(n, dtype=np.intp) * n_features)[:, None] if n > 1 else 0
        has_nan = bool(np.isnan(flat).any())
        for _ in range(self.depth):
            value = flat.take(self.feature.take(node) + row_start)
            threshold = self.threshold.take(node)
            if has_nan:
                go_left = np.where(np.isnan(value), self.default_left.take(node),
                                   value < threshold)
                go_right = ~go_left
            else:
                go_right = value >= threshold  # == not (value < threshold) without NaN
            node = self.children.take(2 * node + go_right)
        return node

    def predict(self, X: np.ndarray) -> np.ndarray:
        node = self.leaves(X)
        terms = np.empty((len(node), self.n_trees + 1), dtype=np.float32)
        terms[:, 0] = self.base_score
        terms[:, 1:] = self.threshold.take(node)
        # cumsum adds strictly left to right in float32: base + tree 0 + tree 1 ..., like XGBoost
        return np.cumsum(terms, axis=1, dtype=np.float32)[:, -1].astype(np.float64)
