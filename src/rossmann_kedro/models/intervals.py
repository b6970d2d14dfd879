"""Prediction intervals by split-conformal calibration of log residuals, scaled per store.

Why conformal rather than quantile regression: it wraps any point model (tree now, LSTM later)
without retraining, its coverage guarantee needs only exchangeability of calibration and future
residuals, and it costs one pass over validation predictions. Why log residuals: the model
predicts log1p(Sales), so errors are roughly multiplicative and an interval in log space gives
bounds proportional to the level (and never negative). Why per store: stores differ a lot in
volatility; a global band would be too wide for steady stores and too narrow for volatile ones.
Each store's residual scale is shrunk toward the global one, so stores with few calibration days
stay sensible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def store_scales(stores: np.ndarray, log_residuals: np.ndarray,
                 shrinkage: float) -> tuple[float, dict[int, float]]:
    """(global scale, per-store scale): mean absolute deviation from the median residual, each
    store's shrunk toward the global one with `shrinkage` pseudo-rows."""
    abs_dev = np.abs(log_residuals - np.median(log_residuals))
    global_scale = float(np.mean(abs_dev)) or 1e-6
    per = pd.DataFrame({"s": stores, "a": abs_dev}).groupby("s")["a"].agg(["sum", "count"])
    scale = (per["sum"] + shrinkage * global_scale) / (per["count"] + shrinkage)
    return global_scale, {int(s): float(v) for s, v in scale.items()}


def scale_table(scale_by_store: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted store ids, their scales) as arrays, the lookup table of `scale_per_row`."""
    ids = np.array(sorted(scale_by_store), dtype=np.int64)
    return ids, np.array([scale_by_store[k] for k in ids], dtype=np.float64)


def scale_per_row(stores: np.ndarray, store_ids: np.ndarray, store_scale: np.ndarray,
                  global_scale: float) -> np.ndarray:
    """Each row's store scale (`store_scale` of sorted `store_ids`), the global scale for
    stores without calibration rows; vectorised."""
    stores = np.asarray(stores, dtype=np.int64)
    if len(store_ids) == 0:
        return np.full(len(stores), global_scale)
    pos = np.clip(np.searchsorted(store_ids, stores), 0, len(store_ids) - 1)
    return np.where(store_ids[pos] == stores, store_scale[pos], global_scale)


def normalised_residuals(fit_stores: np.ndarray, fit_residuals: np.ndarray, shrinkage: float,
                         stores: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """`residuals` divided by their store's scale, the scales fitted on the `fit_` rows."""
    global_scale, by_store = store_scales(fit_stores, fit_residuals, shrinkage)
    return np.asarray(residuals, np.float64) / scale_per_row(stores, *scale_table(by_store),
                                                             global_scale)


@dataclass
class ConformalLogInterval:
    """Fitted calibration: per-store scales and the normalised-residual quantiles."""

    level: float = 0.8
    shrinkage: float = 10.0   # pseudo-count of global scale in each store's scale
    scale_by_store: dict[int, float] = field(default_factory=dict)
    global_scale: float = 0.0
    q_low: float = 0.0
    q_high: float = 0.0
    n_calibration: int = 0

    def fit(self, stores: np.ndarray, log_residuals: np.ndarray) -> ConformalLogInterval:
        """`log_residuals` = log1p(actual) - predicted log1p, on calibration rows (Sales > 0)."""
        stores = np.asarray(stores, dtype=np.int64)
        r = np.asarray(log_residuals, dtype=np.float64)
        if len(r) < 10:
            raise ValueError(f"need at least 10 calibration residuals, got {len(r)}")
        self.global_scale, self.scale_by_store = store_scales(stores, r, self.shrinkage)
        self._keys = None
        z = r / self._scales(stores)
        n = len(z)
        alpha = 1.0 - self.level
        # finite-sample conformal correction of the two one-sided quantile levels
        lo_q = max(0.0, np.floor((n + 1) * alpha / 2) / n)
        hi_q = min(1.0, np.ceil((n + 1) * (1 - alpha / 2)) / n)
        self.q_low = float(np.quantile(z, lo_q))
        self.q_high = float(np.quantile(z, hi_q))
        self.n_calibration = n
        logger.info("Conformal %.0f%% intervals: %d residuals, %d stores, global scale %.4f, "
                    "normalised quantiles [%.3f, %.3f]", 100 * self.level, n, len(self.scale_by_store),
                    self.global_scale, self.q_low, self.q_high)
        return self

    def _scales(self, stores: np.ndarray) -> np.ndarray:
        """Per-row scale (global for stores without calibration rows), vectorised."""
        keys = getattr(self, "_keys", None)
        if keys is None or len(keys) != len(self.scale_by_store):
            self._keys, self._vals = scale_table(self.scale_by_store)
            keys = self._keys
        return scale_per_row(stores, keys, self._vals, self.global_scale)

    def bounds(self, stores: np.ndarray, pred_log: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) Sales for predictions given as log1p(Sales)."""
        sc = self._scales(np.asarray(stores))
        pl = np.asarray(pred_log, dtype=np.float64)
        lower = np.expm1(pl + self.q_low * sc)
        upper = np.expm1(pl + self.q_high * sc)
        return np.maximum(lower, 0.0), np.maximum(upper, 0.0)


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of rows with Sales > 0 whose actual lies in [lower, upper]."""
    y = np.asarray(y, dtype=np.float64)
    keep = y > 0
    if not keep.any():
        return float("nan")
    return float(np.mean((y[keep] >= lower[keep]) & (y[keep] <= upper[keep])))


def cross_conformal_coverage(
    dates: pd.Series, stores: np.ndarray, y: np.ndarray, pred_log: np.ndarray,
    level: float, shrinkage: float = 10.0,
) -> dict[str, float]:
    """Honest coverage estimate: calibrate on one half of the window (by date), measure on the
    other, both ways round; calibrating and measuring on the same rows would be circular."""
    d = pd.to_datetime(pd.Series(dates)).to_numpy()
    cut = np.sort(np.unique(d))[len(np.unique(d)) // 2]
    first = d < cut
    y = np.asarray(y, dtype=np.float64)
    resid = np.log1p(y) - np.asarray(pred_log, dtype=np.float64)
    hits, widths = [], []
    for cal_mask in (first, ~first):
        ev = ~cal_mask
        c = ConformalLogInterval(level=level, shrinkage=shrinkage).fit(stores[cal_mask],
                                                                       resid[cal_mask])
        lo, hi = c.bounds(stores[ev], pred_log[ev])
        hits.append(coverage(y[ev], lo, hi) * ev.sum())
        widths.append(float(np.mean((hi - lo) / np.maximum(y[ev], 1.0))) * ev.sum())
    n = len(y)
    return {"level": level, "coverage": float(sum(hits) / n),
            "mean_relative_width": float(sum(widths) / n)}


@dataclass
class HorizonConformalInterval:
    """Conformal intervals from out-of-sample residuals, by horizon band (a week by default).

    Fitted on the residuals of backtest folds (models fitted before each fold's origin,
    forecasting the next weeks), so the bands hold at the horizons the served model is asked
    about, and a model refitted on all data does not get in-sample bands. Normalised residuals
    (log residual / store scale) get their own two-sided quantiles per band; each store's scale
    is shrunk toward the global one. Horizons past the last band use the last band.

    Split conformal assumes calibration and future residuals are exchangeable; forecast folds
    are not (a January fold errs more than a May one), so calibrating at the nominal level
    under-covers a new season. `band_levels` (from `adjusted_band_levels`) raise each band's
    quantile level by what leave-one-fold-out showed that shift to cost.
    """

    level: float = 0.8
    band_days: int = 7
    shrinkage: float = 10.0
    scale_by_store: dict[int, float] = field(default_factory=dict)
    global_scale: float = 0.0
    q_low: list[float] = field(default_factory=list)     # one per band
    q_high: list[float] = field(default_factory=list)
    n_per_band: list[int] = field(default_factory=list)
    # per-band quantile levels that make the nominal `level` hold on a new fold (None = nominal)
    band_levels: list[float] | None = None

    def fit(self, stores: np.ndarray, horizon: np.ndarray,
            log_residuals: np.ndarray) -> HorizonConformalInterval:
        stores = np.asarray(stores, dtype=np.int64)
        r = np.asarray(log_residuals, dtype=np.float64)
        if len(r) < 10 or not np.isfinite(r).all():
            raise ValueError(f"need at least 10 finite residuals, got {len(r)}")
        self.global_scale, self.scale_by_store = store_scales(stores, r, self.shrinkage)
        self._keys = None
        z = r / self._scales(stores)
        band = self.band_of(horizon)
        self.q_low, self.q_high, self.n_per_band = [], [], []
        for b in range(int(band.max()) + 1):
            zb = z[band == b]
            if len(zb) < 10:   # too few in this band: reuse the previous band's quantiles
                if not self.q_low:
                    zb = z
                else:
                    self.q_low.append(self.q_low[-1])
                    self.q_high.append(self.q_high[-1])
                    self.n_per_band.append(int(len(zb)))
                    continue
            lo, hi = conformal_quantiles(zb, [self.level_of_band(b)])
            self.q_low.append(float(lo[0]))
            self.q_high.append(float(hi[0]))
            self.n_per_band.append(int(len(zb)))
        logger.info("Horizon conformal %.0f%% intervals: %d residuals, %d stores, %d bands of %d "
                    "days, quantile levels %s, normalised quantiles %s", 100 * self.level, len(r),
                    len(self.scale_by_store), len(self.q_low), self.band_days,
                    [round(self.level_of_band(b), 3) for b in range(len(self.q_low))],
                    [f"[{a:.2f}, {b:.2f}]" for a, b in zip(self.q_low, self.q_high, strict=False)])
        return self

    def level_of_band(self, band: int) -> float:
        """The quantile level band `band` is calibrated at: `band_levels` (see
        `adjusted_band_levels`) where given, else the nominal `level`."""
        if self.band_levels:
            return float(self.band_levels[min(band, len(self.band_levels) - 1)])
        return float(self.level)

    def band_of(self, horizon: np.ndarray) -> np.ndarray:
        """Band index of horizons 1.. (horizon 1..band_days -> 0); <= 0 counts as the first."""
        h = np.maximum(np.asarray(horizon, dtype=np.int64), 1)
        return (h - 1) // int(self.band_days)

    _scales = ConformalLogInterval._scales

    def bounds(self, stores: np.ndarray, pred_log: np.ndarray,
               horizon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) Sales for log1p predictions `horizon` days after the origin."""
        sc = self._scales(np.asarray(stores))
        band = np.minimum(self.band_of(horizon), len(self.q_low) - 1)
        pl = np.asarray(pred_log, dtype=np.float64)
        lower = np.expm1(pl + np.asarray(self.q_low)[band] * sc)
        upper = np.expm1(pl + np.asarray(self.q_high)[band] * sc)
        return np.maximum(lower, 0.0), np.maximum(upper, 0.0)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_keys", None)
        state.pop("_vals", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state.setdefault("band_levels", None)  # pickled before band levels existed: nominal
        self.__dict__.update(state)


def conformal_quantiles(z: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) two-sided split-conformal quantiles of scores `z` at each of `levels`,
    with the finite-sample correction of the two one-sided quantile levels."""
    n = len(z)
    alpha = 1.0 - np.asarray(levels, dtype=np.float64)
    lo_q = np.maximum(0.0, np.floor((n + 1) * alpha / 2) / n)
    hi_q = np.minimum(1.0, np.ceil((n + 1) * (1 - alpha / 2)) / n)
    return np.quantile(z, lo_q), np.quantile(z, hi_q)


def adjusted_band_levels(
    stores: np.ndarray, horizon: np.ndarray, log_residuals: np.ndarray, folds: np.ndarray,
    level: float, grid: Sequence[float], band_days: int, shrinkage: float,
) -> list[float] | None:
    """Per horizon band, the quantile level from `grid` whose leave-one-fold-out coverage over
    `folds` is closest to `level` (ties: the lower level): calibrating on all but one fold and
    scoring that fold is what serving a new period does. None with fewer than two folds
    (nothing to leave out): calibrate at the nominal level.

    Scoring every level costs one store-scale fit per left-out fold: the normalised residuals
    do not depend on the level, only their quantiles do."""
    stores = np.asarray(stores, dtype=np.int64)
    r = np.asarray(log_residuals, dtype=np.float64)
    folds = np.asarray(folds)
    grid = np.asarray(sorted(grid), dtype=np.float64)
    unique = np.unique(folds)
    if len(unique) < 2:
        return None
    band = HorizonConformalInterval(band_days=band_days).band_of(horizon)
    n_bands = int(band.max()) + 1
    hits = np.zeros((n_bands, len(grid)))
    counted = np.zeros(n_bands)
    for fold in unique:
        cal, ev = folds != fold, folds == fold
        z = normalised_residuals(stores[cal], r[cal], shrinkage, stores, r)
        z_cal, z_ev = z[cal], z[ev]
        for b in range(n_bands):
            zb, eb = z_cal[band[cal] == b], np.sort(z_ev[band[ev] == b])
            if len(zb) < 10 or len(eb) == 0:
                continue
            lo, hi = conformal_quantiles(zb, grid)
            inside = np.searchsorted(eb, hi, side="right") - np.searchsorted(eb, lo, side="left")
            hits[b] += inside / len(eb)   # each fold weighs the same
            counted[b] += 1
    levels = []
    for b in range(n_bands):
        if counted[b] == 0:
            levels.append(levels[-1] if levels else float(level))
            continue
        gap = np.abs(hits[b] / counted[b] - level)
        levels.append(float(grid[int(np.argmin(gap))]))  # argmin: the first (lowest) of ties
    logger.info("Interval levels for %.0f%% coverage on a new fold, per %d-day band: %s",
                100 * level, band_days, [round(v, 3) for v in levels])
    return levels
