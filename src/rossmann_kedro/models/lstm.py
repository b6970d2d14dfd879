"""A global two-layer LSTM forecaster (Keras 3, JAX backend) and `LSTMForecaster`, the served
object implementing `rossmann_kedro.forecaster.Forecaster`.

Design: a *direct* model, conditioned on the known covariates of each target day.

    history window (last `window` days of the store) --LSTM--LSTM--\
    store embedding ---------------------------------------------- +--> context (per store)
    target day covariates (promo, holidays, calendar, lead time h) -+--> dense head --> log sales

For a sample anchored at day t the encoder reads days t-window+1..t; the head predicts the log
sales of any day t+h (1 <= h <= `horizon_days`) from that context plus the day's own covariates
and its lead time h. Why this shape rather than the alternatives:

* *Recursive* one-step models feed their own predictions back and need the covariates of every
  day in between; a serving request for 2015-09-17 carries only that day, and errors compound
  over the 43..90-day gap between the end of the real train and the test dates.
* A *multi-output* head with one output per lead time (90+ outputs) would need the covariates of
  all target days at once, again not available from a single request row, and learns each lead
  time from 1/90 of the data.
* The direct conditioned model shares one head across lead times (h is an input), needs only the
  request row plus the per-store context saved at training time, and is trained on randomly
  drawn (anchor, lead) pairs so every h in 1..horizon_days is covered.

Targets (stationarity, see `timeseries.transforms`): log1p(Sales) minus a baseline, scaled to
(-1, 1) with a MinMaxScaler fitted on the training samples only. The baseline is the mean
log1p(Sales) of the input window (a local-level difference: removes store level and trend,
stabilises the variance) plus the target day's store x weekday x promo cell offset from the
feature context (`cell_rel_log_sales`: the cell's mean log sales minus the store's). The
network so learns departures from the store's usual pattern rather than the pattern itself;
without the offset its shared head over-predicted ordinary promo days of quiet stores by 2x near
holidays (backtest RMSPE 0.155 -> 0.145 with it). The store's learnt holiday gap
(`store_holiday_effect`, which the trees use) was tried in this baseline and as a covariate: it
fixed the holiday-open stores' holidays but the backtest mean got worse (README), so it is out.
Weekly and yearly seasonality beyond the cell are left to the covariates (weekday, day of year,
holiday distances, the store's learnt Carnival gap) rather than a lag-7 seasonal difference,
which would need the sales of t+h-7, unknown for h > 7. The store's own yearly season comes from
the year-ago covariates (`year_ago_covariates`): the same target read 364 days back (that day's
log sales less its cell offset, less the level of the window a year before the anchor), the
same over its week, and whether they are known; days whose events move between years are
skipped (`moving_event_days`). Backtest: networks 0.1440 -> 0.1373, served 0.1351 -> 0.1317 over
two seed pairs (README).

Loss: squared error on the scaled log target (~ squared relative error, what RMSPE rewards),
masked to open days with Sales > 0. Open state-holiday days are ~0.1% of targets; with
`holiday_target_weight` > 1 they are always drawn as targets and weighted that much in the loss.
The default is 1: a weight of 10 pulled the shared head towards the few stores open on holidays
and over-predicted ordinary stores around them (backtest RMSPE 0.163 -> 0.155 at 1). Early stopping watches a
time-based split (the last `early_stopping_weeks` of the fitting history).

Ensemble: `ensemble_members` networks are trained on the same prepared data, scalers and
held-out set, each from its own seed (seed + k) and its own draw of training windows and
targets; the forecast is the mean of their log predictions. One network's backtest RMSPE moves
by up to 0.02 on the four-fold mean from seed to seed (early stopping on six noisy held-out weeks
picks epoch 2 for one seed and 5 for the next; 0.141 for seed 42, 0.158 for seed 43 with the
default settings); the mean of two is steadier (0.142 against 0.163 for one, with the holiday
gap of an earlier trial; 0.141 when one of the two is the lucky seed 42), at twice the training
time, and is the default (README, lstm_model).

Intervals: split-conformal on the held-out windows' log residuals of the members' mean (the shared
`ConformalLogInterval`, per-store scales), calibrated per lead-time band (`LeadBandedInterval`),
because errors grow with the lead time and the served dates are 43..90 days out. On the backtest
folds these bands covered 73 % at 80 % (six held-out weeks are one season), so when the backtest
scored these settings lstm_model serves the folds' calibration instead (`HorizonConformalInterval`,
as the tree).

Serving: each member's per-store context projection (first head layer's contribution of
embedding + encoder state) and the window level are computed once when the history is set and stored as
numpy arrays; `predict` then runs the small dense head in float64 numpy -- no Keras call, so a
single row costs tens of microseconds and batch and single-row scoring give identical numbers.
Keras itself is only imported to train or to re-encode a new history (`set_history`).

Settings: `LSTMConfig`, built from `lstm_model:` in conf/base/parameters_lstm_model.yml (no
defaults here). Features come from feature_engineering's `FeatureContext`s, the same ones the
tree models use: the validation context (statistics up to the day before the validation window)
to train, the full one to serve.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from rossmann_kedro.config import Config
from rossmann_kedro.features import FEATURE_NAMES, FeatureContext, build_features
from rossmann_kedro.features import calendar as cal
from rossmann_kedro.forecaster import PREDICTION_COLUMNS, RowError
from rossmann_kedro.models.events import event_shift
from rossmann_kedro.timeseries import (
    WINDOW_FEATURES,
    FallbackLevels,
    Samples,
    SeriesGrid,
    build_grid,
    fit_minmax,
    scaler_arrays,
    supervised_samples,
    window_levels,
    window_tensor,
)

from .intervals import ConformalLogInterval, HorizonConformalInterval, coverage
from .member_processes import fit_members_in_processes
from .metrics import evaluate

logger = logging.getLogger(__name__)

#: Columns of `build_features` the head uses for a target day (codes get one-hot below).
BASE_TARGET_FEATURES: tuple[str, ...] = (
    "Promo", "SchoolHoliday", "Day", "days_to_month_end",
    "days_until_state_holiday", "days_since_state_holiday",
    "days_until_school_holiday", "days_since_school_holiday",
    "days_until_christmas", "days_since_christmas", "days_until_easter", "days_since_easter",
    "days_until_promo", "days_since_promo", "promo_prev_week", "promo_next_week",
    "promo2_active", "promo2_month", "competition_open", "competition_open_months",
    "store_carnival_effect",
)
DERIVED_TARGET_FEATURES: tuple[str, ...] = (
    *(f"dow_{d}" for d in range(1, 8)), "holiday_a", "holiday_b", "holiday_c",
    "doy_sin", "doy_cos", "cell_rel_log_sales",
)
#: Every target-day input of the head, in order; `lead` is the scaled lead time h.
TARGET_FEATURES: tuple[str, ...] = (*BASE_TARGET_FEATURES, *DERIVED_TARGET_FEATURES, "lead")

#: Position of the baseline's cell offset among the raw target covariates (see module docstring).
CELL_OFFSET = TARGET_FEATURES.index("cell_rel_log_sales")
#: The target day's counterpart a year before (`year_ago_covariates`), inserted before `lead`.
YEAR_AGO_FEATURES: tuple[str, ...] = ("year_ago_day", "year_ago_week", "year_ago_known")
#: 52 weeks: the same weekday a year before.
YEAR_DAYS = 364


class LSTMConfig(Config):
    """The network and its training: `lstm_model:` in parameters_lstm_model.yml (comments there)."""

    seed: int
    ensemble_members: PositiveInt
    early_stopping_weeks: PositiveInt
    window_days: PositiveInt
    horizon_days: PositiveInt
    lstm_units: tuple[PositiveInt, PositiveInt]
    store_embedding_dim: PositiveInt
    dense_units: list[PositiveInt] = Field(min_length=1)
    targets_per_window: PositiveInt
    anchor_stride_days: PositiveInt
    min_valid_days: PositiveInt
    holiday_target_weight: PositiveFloat
    epochs: PositiveInt
    early_stopping_patience: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    scaler_robust_quantile: float = Field(ge=0.0, lt=0.5)
    interval_level: float = Field(gt=0.0, lt=1.0)
    interval_band_days: PositiveInt
    year_ago_covariates: bool

    @model_validator(mode="after")
    def _year_ago_reads_only_the_past(self) -> LSTMConfig:
        """A year-ago week (t - 364 +- 3) must end before the origin for every lead time."""
        if self.year_ago_covariates and self.horizon_days > YEAR_DAYS - 4:
            raise ValueError(f"horizon_days {self.horizon_days} > {YEAR_DAYS - 4}: the year-ago "
                             "covariates would read days after the forecast origin")
        return self


def network_settings(config: LSTMConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The `LSTMConfig` fields of `config` as plain values, validated (a subclass instance, such
    as the pipeline's config, or a mapping with exactly these keys)."""
    if not isinstance(config, LSTMConfig):  # e.g. the raw `lstm_model:` block (pipeline keys too)
        config = LSTMConfig.model_validate(
            {k: v for k, v in dict(config).items() if k in LSTMConfig.model_fields})
    dumped = config.model_dump(mode="json")
    return {k: dumped[k] for k in LSTMConfig.model_fields}


def import_keras():
    """The one place Keras is imported: the JAX backend must be chosen before the first import."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return keras


# --------------------------------------------------------------------------------------------
# Target-day covariates
# --------------------------------------------------------------------------------------------
_COL = {name: j for j, name in enumerate(FEATURE_NAMES)}
_BASE_IDX = np.array([_COL[c] for c in BASE_TARGET_FEATURES])


def covariate_matrix(features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """(n, len(TARGET_FEATURES) - 1) float64 raw covariates from `build_features` output (a frame
    or its values in `FEATURE_NAMES` order; plain column indexing keeps one row cheap)."""
    f = np.asarray(features.to_numpy() if isinstance(features, pd.DataFrame) else features,
                   dtype=np.float64)
    dow = f[:, _COL["DayOfWeek"]]
    hol = f[:, _COL["StateHoliday"]]
    ang = 2 * np.pi * (f[:, _COL["DayOfYear"]] - 1) / 365.25
    out = np.empty((len(f), len(TARGET_FEATURES) - 1), dtype=np.float64)
    nb = len(_BASE_IDX)
    out[:, :nb] = f[:, _BASE_IDX]
    out[:, nb:nb + 7] = dow[:, None] == np.arange(1, 8)[None, :]
    out[:, nb + 7:nb + 10] = hol[:, None] == np.arange(1, 4)[None, :]
    out[:, nb + 10] = np.sin(ang)
    out[:, nb + 11] = np.cos(ang)
    out[:, nb + 12] = f[:, _COL["cell_mean_log_sales"]] - f[:, _COL["store_mean_log_sales"]]
    return out


def scaled_lead(lead: np.ndarray, horizon: int) -> np.ndarray:
    """Lead time 1..horizon mapped linearly onto (-1, 1)."""
    return 2.0 * (np.asarray(lead, np.float64) - 1) / max(horizon - 1, 1) - 1.0


def scaled_year_ago(year_ago: np.ndarray, target_scale: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The two year-ago deltas on the target's scale (without its shift: 0 stays "as the
    level"); the known flag as is."""
    out = year_ago.copy()
    out[..., :2] *= target_scale[0][0]
    return out


class _PrefixSums:
    """Per-store running sums and counts of the non-NaN values of a (n_stores, n_days) array,
    made once, so any number of windows is summed by two lookups each."""

    def __init__(self, values: np.ndarray) -> None:
        self.n_days = values.shape[1]
        ok = ~np.isnan(values)
        self.total = np.zeros((len(values), self.n_days + 1))
        self.count = np.zeros((len(values), self.n_days + 1), dtype=np.int64)
        np.cumsum(np.where(ok, values, 0.0), axis=1, out=self.total[:, 1:])
        np.cumsum(ok, axis=1, out=self.count[:, 1:])

    def window(self, store_idx: np.ndarray, start: np.ndarray,
               stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sum, count) over days start..stop (inclusive, any shape broadcast with
        `store_idx`; parts outside the grid count as missing)."""
        lo = np.clip(start, 0, self.n_days)
        hi = np.maximum(np.clip(stop + 1, 0, self.n_days), lo)
        return (self.total[store_idx, hi] - self.total[store_idx, lo],
                self.count[store_idx, hi] - self.count[store_idx, lo])


def moving_event_days(grid: SeriesGrid) -> np.ndarray:
    """(n_stores, n_days) bool: the days a year-ago reading skips because their events move
    between years (a weekday 364 days later is another date): state holidays, the day before
    one (the shopping before Easter or Christmas), and the Carnival days."""
    holiday = grid.state_holiday > 0
    before = np.zeros_like(holiday)
    before[:, :-1] = holiday[:, 1:]
    days = grid.start_day + np.arange(grid.n_days)
    carnival = np.isin(cal.carnival_offset(days), cal.CARNIVAL_EFFECT_OFFSETS)
    return holiday | before | carnival[None, :]


class YearAgoReader:
    """Reads the year-ago covariates (`year_ago_covariates`) of any windows of one grid: the
    running sums of its log sales and of its offset-free, event-skipped log sales are made once,
    however many chunks of windows are read."""

    def __init__(self, log_sales: np.ndarray, offset: np.ndarray, window: int, min_valid: int,
                 skip: np.ndarray | None = None) -> None:
        rel = log_sales - offset if skip is None else np.where(skip, np.nan, log_sales - offset)
        self.sales = _PrefixSums(log_sales)
        self.rel = _PrefixSums(rel)
        self.window = int(window)
        self.min_valid = int(min_valid)

    def covariates(self, store_idx: np.ndarray, anchors: np.ndarray,
                   targets: np.ndarray) -> np.ndarray:
        """(n, k, 3) float64 `YEAR_AGO_FEATURES` of `targets` (n, k) of windows ending at
        `anchors` (n,) of stores `store_idx` (n,); see `year_ago_covariates`."""
        s = np.asarray(store_idx)
        a = np.asarray(anchors) - YEAR_DAYS
        lvl_sum, lvl_n = self.sales.window(s, a - self.window + 1, a)
        level_known = (lvl_n >= self.min_valid) & (a - self.window + 1 >= 0)
        level = lvl_sum / np.maximum(lvl_n, 1)
        d = np.asarray(targets) - YEAR_DAYS
        sb = s[:, None]
        week_sum, week_n = self.rel.window(sb, d - 3, d + 3)
        week = week_sum / np.maximum(week_n, 1)
        day_sum, day_n = self.rel.window(sb, d, d)
        day = np.where(day_n > 0, day_sum, week)
        known = level_known[:, None] & (week_n >= 3)
        out = np.zeros((*d.shape, 3))
        out[..., 0] = np.where(known, day - level[:, None], 0.0)
        out[..., 1] = np.where(known, week - level[:, None], 0.0)
        out[..., 2] = known
        return out


def year_ago_covariates(log_sales: np.ndarray, offset: np.ndarray, store_idx: np.ndarray,
                        anchors: np.ndarray, targets: np.ndarray, window: int,
                        min_valid: int, skip: np.ndarray | None = None) -> np.ndarray:
    """(n, k, 3) float64 `YEAR_AGO_FEATURES` of target days `targets` (n, k) of windows ending
    at `anchors` (n,): what the same weekday a year before (t - 364) sold, less its cell offset,
    relative to the level of the window that ended a year before the anchor; the same over the
    seven days centred on it (steadier); and whether they are known (0 and 0 when the year-ago
    window or week has too few valid days, e.g. in the first year of history). The day falls back
    to the week when it has no valid sale. This is the year-ago analogue of the training target
    (log sales - cell offset - window level), so a January after December's peak or an Easter
    week reads what the same weeks did last year. Every day read is at or before the anchor for
    lead times up to 360 days.

    `log_sales` (n_stores, n_days) NaN on invalid days; `offset` the cell offsets on them;
    `skip` days not read as a year-ago day or week (`moving_event_days`)."""
    return YearAgoReader(log_sales, offset, window, min_valid, skip).covariates(
        store_idx, anchors, targets)


def _valid_grid_rows(grid: SeriesGrid, sales: pd.DataFrame, first_day: int,
                     last_day: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows of `sales` on valid cells of `grid` with day numbers first_day..last_day, and
    their store and day indices in the grid."""
    days = cal.to_day_numbers(sales["Date"])
    rows = sales.loc[(days >= first_day) & (days <= last_day) & sales["Store"].isin(grid.store_ids)]
    si = grid.store_index(rows["Store"].to_numpy(np.int64))
    di = cal.to_day_numbers(rows["Date"]) - grid.start_day
    keep = grid.valid[si, di]
    return rows.loc[keep], si[keep], di[keep]


def grid_covariates(grid: SeriesGrid, sales: pd.DataFrame, context: FeatureContext) -> np.ndarray:
    """(n_stores, n_days, C) float32 raw covariates of every valid grid cell (zeros elsewhere;
    only valid cells are ever targets). Computed by the same `build_features` as serving."""
    rows, si, di = _valid_grid_rows(grid, sales, grid.start_day, grid.end_day)
    cov = np.zeros((*grid.valid.shape, len(TARGET_FEATURES) - 1), dtype=np.float32)
    cov[si, di] = covariate_matrix(build_features(rows, context))
    return cov


def _history_cell_offsets(grid: SeriesGrid, sales: pd.DataFrame, context: FeatureContext,
                          horizon: int) -> np.ndarray:
    """(n_stores, n_days) cell offsets (`cell_rel_log_sales`) of the valid history days the
    year-ago covariates of lead times 1..`horizon` read (0 elsewhere), by the same
    `build_features` as training."""
    end = grid.n_days - 1
    first = grid.start_day + max(end - YEAR_DAYS - 3, 0)
    last = grid.start_day + min(end - YEAR_DAYS + horizon + 3, end)
    rows, si, di = _valid_grid_rows(grid, sales, first, last)
    out = np.zeros(grid.valid.shape)
    if len(rows):
        out[si, di] = covariate_matrix(build_features(rows, context))[:, CELL_OFFSET]
    return out


class LeadBandedInterval:
    """Split-conformal intervals on log residuals (the shared `ConformalLogInterval`, per-store
    scales) calibrated separately per lead-time band: errors grow with the lead time, and the
    served dates (43..90 days ahead on the real test) are further out than the validation
    window's 1..43. Bands with fewer than `min_residuals` residuals fall back to all residuals."""

    def __init__(self, level: float, band_days: int = 14, min_residuals: int = 200) -> None:
        self.level = float(level)
        self.band_days = int(band_days)
        self.min_residuals = int(min_residuals)
        self.bands: dict[int, ConformalLogInterval] = {}
        self.pooled: ConformalLogInterval | None = None

    def fit(self, stores: np.ndarray, lead: np.ndarray, log_residuals: np.ndarray) -> LeadBandedInterval:
        band = (np.asarray(lead) - 1) // self.band_days
        self.pooled = ConformalLogInterval(level=self.level).fit(stores, log_residuals)
        for b in np.unique(band):
            m = band == b
            if m.sum() >= self.min_residuals:
                self.bands[int(b)] = ConformalLogInterval(level=self.level).fit(stores[m], log_residuals[m])
        return self

    def bounds(self, stores: np.ndarray, pred_log: np.ndarray,
               lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        band = (np.asarray(lead) - 1) // self.band_days
        lo = np.empty(len(pred_log))
        hi = np.empty(len(pred_log))
        for b in np.unique(band):
            m = band == b
            lo[m], hi[m] = self.bands.get(int(b), self.pooled).bounds(stores[m], pred_log[m])
        return lo, hi


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkMember:
    """One trained network of the ensemble: all its Keras weights (to re-encode histories) and
    the float64 head layers `predict` runs in numpy."""

    weights: list[np.ndarray]
    head: list[tuple[np.ndarray, np.ndarray]]


def build_network(net: dict[str, Any]):
    """(model, encoder): `model` maps {window, store, targets} -> (n, k, 1) scaled log sales;
    `encoder` (sharing its layers) maps {window, store} -> the per-store context projection."""
    keras = import_keras()
    from keras import layers, ops

    window = keras.Input((net["window_days"], net["n_window_features"]), name="window")
    store = keras.Input((1,), dtype="int32", name="store")
    targets = keras.Input((None, net["n_target_features"]), name="targets")
    emb = layers.Flatten()(layers.Embedding(net["n_stores"], net["store_embedding_dim"],
                                            name="store_embedding")(store))
    u1, u2 = net["lstm_units"]
    x = layers.LSTM(u1, return_sequences=True, name="lstm_1")(window)
    x = layers.LSTM(u2, name="lstm_2")(x)
    ctx = layers.Concatenate(name="context")([emb, x])
    dense = list(net["dense_units"])
    a = layers.Dense(dense[0], use_bias=False, name="context_proj")(ctx)
    b = layers.Dense(dense[0], name="target_proj")(targets)
    h = ops.relu(ops.expand_dims(a, 1) + b)
    for i, units in enumerate(dense[1:], start=1):
        h = layers.Dense(units, activation="relu", name=f"head_{i}")(h)
    out = layers.Dense(1, name="out")(h)
    model = keras.Model({"window": window, "store": store, "targets": targets}, out, name="lstm")
    encoder = keras.Model({"window": window, "store": store}, a, name="lstm_encoder")
    return model, encoder


def head_weights(model, n_dense: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """float64 (kernel, bias) of target_proj, head_1.., out: what `predict` runs in numpy."""
    names = ["target_proj", *(f"head_{i}" for i in range(1, n_dense)), "out"]
    return [tuple(np.asarray(w, dtype=np.float64) for w in model.get_layer(n).get_weights())
            for n in names]


class _LogProgress:
    """Keras callback (built lazily, Keras must not be imported at module load) that logs each
    epoch's losses and duration."""

    def __new__(cls, label: str):
        keras = import_keras()

        class LogProgress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                logger.info("%s epoch %d: loss=%.5f val_loss=%.5f (%.1fs)", label, epoch + 1,
                            logs.get("loss", float("nan")), logs.get("val_loss", float("nan")),
                            time.perf_counter() - self.t0)

        return LogProgress()


# --------------------------------------------------------------------------------------------
# Training data
# --------------------------------------------------------------------------------------------
#: Training windows per chunk when their head inputs are filled in: bounds the temporaries.
ASSEMBLE_CHUNK = 16384


def target_inputs(grid: SeriesGrid, cov_scaled: np.ndarray, samples: Samples,
                  cfg: dict[str, Any], tscale: tuple[np.ndarray, np.ndarray], offset: np.ndarray,
                  chunk: int = ASSEMBLE_CHUNK) -> np.ndarray:
    """(n, k, n_target_features) float32 head inputs of the samples' target days: scaled
    covariates, the year-ago covariates (when configured) and the scaled lead time. Filled
    `chunk` windows at a time into one array: the same values as computed at once, without a
    full-size temporary per part (on the real data each is ~1 GB)."""
    w, horizon = int(cfg["window_days"]), int(cfg["horizon_days"])
    year_ago = bool(cfg["year_ago_covariates"])
    reader = (YearAgoReader(grid.log_sales, offset, w, int(cfg["min_valid_days"]),
                            moving_event_days(grid)) if year_ago else None)
    n_cov = cov_scaled.shape[-1]
    out = np.empty((*samples.target.shape, n_cov + len(YEAR_AGO_FEATURES) * year_ago + 1),
                   dtype=np.float32)
    for lo in range(0, len(samples.anchor), chunk):
        part = slice(lo, lo + chunk)
        stores, anchors, targets = samples.store_idx[part], samples.anchor[part], samples.target[part]
        out[part, :, :n_cov] = cov_scaled[stores[:, None], targets]
        if year_ago:
            out[part, :, n_cov:-1] = scaled_year_ago(
                reader.covariates(stores, anchors, targets), tscale)
        out[part, :, -1] = scaled_lead(targets - anchors[:, None], horizon)
    return out


def assemble(grid: SeriesGrid, cov_scaled: np.ndarray, samples: Samples, cfg: dict[str, Any],
             fallback: FallbackLevels, tscale: tuple[np.ndarray, np.ndarray], offset: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, y (n,k,1), weight (n,k), level (n,)) for `samples`."""
    w = cfg["window_days"]
    level, _ = window_levels(grid, samples.store_idx, samples.anchor, w, fallback,
                             cfg["min_valid_days"])
    s = samples.store_idx[:, None]
    scale, mn = tscale
    y_log = grid.log_sales[s, samples.target] - offset[s, samples.target]
    y = np.where(samples.weight > 0, (y_log - level[:, None]) * scale[0] + mn[0], 0.0)
    weight = samples.weight * np.where(grid.state_holiday[s, samples.target] > 0,
                                       float(cfg["holiday_target_weight"]), 1.0)
    inputs = {
        "window": window_tensor(grid, samples.store_idx, samples.anchor, w, level, tscale),
        "store": samples.store_idx[:, None].astype(np.int32),
        "targets": target_inputs(grid, cov_scaled, samples, cfg, tscale, offset),
    }
    return inputs, y[..., None].astype(np.float32), weight.astype(np.float32), level


def train_network(
    sales: pd.DataFrame, context: FeatureContext, config: LSTMConfig | Mapping[str, Any], *,
    member_processes: int,
) -> LSTMForecaster:
    """Fit on the history up to the end of `context`'s statistics (`cutoff`, the day before the
    validation window for feature_engineering's validation context) and return a forecaster
    whose history ends there.

    Inside that history the last `early_stopping_weeks` weeks are the early-stopping split:
    training targets (and windows) end at `cutoff - early_stopping_weeks`; held-out samples have
    windows
    ending at or before that day and targets after it, at lead times spread over 1..horizon.
    The held-out log residuals also calibrate the conformal intervals.

    `member_processes` > 1 trains up to that many member networks at once, each in its own
    process (`member_processes.fit_members_in_processes`; the same networks to the bit, sooner);
    1 trains them one after the other in this process.
    """
    cfg = network_settings(config)
    cutoff = pd.Timestamp(context.train_end)
    keras = import_keras()
    t0 = time.perf_counter()
    keras.utils.set_random_seed(int(cfg["seed"]))
    rng = np.random.default_rng(int(cfg["seed"]))
    w, horizon = int(cfg["window_days"]), int(cfg["horizon_days"])

    grid = build_grid(sales, end=cutoff)
    end_idx = grid.n_days - 1
    inner = end_idx - 7 * int(cfg["early_stopping_weeks"])
    fallback = FallbackLevels.fit(grid, inner)
    cov_raw = grid_covariates(grid, sales, context)
    offset = cov_raw[..., CELL_OFFSET].copy()  # baseline: window level + this cell offset

    def draw_training_samples() -> Samples:
        """Training windows (anchors before the early-stopping split) and their targets."""
        return supervised_samples(grid, w, horizon, 0, inner - 1, 0, inner,
                                  int(cfg["anchor_stride_days"]), int(cfg["targets_per_window"]),
                                  int(cfg["min_valid_days"]), rng,
                                  prefer_holidays=float(cfg["holiday_target_weight"]) > 1)

    train_s = draw_training_samples()
    val_s = supervised_samples(grid, w, horizon, inner - horizon + 1, inner, inner + 1, end_idx,
                               7, 7 * int(cfg["early_stopping_weeks"]), int(cfg["min_valid_days"]), rng)
    # scalers: fitted on the training samples only
    lvl, _ = window_levels(grid, train_s.store_idx, train_s.anchor, w, fallback, int(cfg["min_valid_days"]))
    mask = train_s.weight > 0
    dev = (grid.log_sales[train_s.store_idx[:, None], train_s.target]
           - offset[train_s.store_idx[:, None], train_s.target] - lvl[:, None])[mask]
    tscaler = fit_minmax(dev, float(cfg["scaler_robust_quantile"]))
    tscale = scaler_arrays(tscaler)
    cells = cov_raw[train_s.store_idx[:, None], train_s.target][mask]
    cscale = scaler_arrays(fit_minmax(cells))
    cov_scaled = (cov_raw * cscale[0].astype(np.float32) + cscale[1].astype(np.float32)) * grid.valid[..., None]
    del cov_raw
    x_tr, y_tr, w_tr, _ = assemble(grid, cov_scaled, train_s, cfg, fallback, tscale, offset)
    x_va, y_va, w_va, lvl_va = assemble(grid, cov_scaled, val_s, cfg, fallback, tscale, offset)
    logger.info("LSTM data: %d stores, grid %s..%s, early-stopping split at %s; %d training "
                "windows (%d targets), %d held-out windows (%d targets); prepared in %.1fs",
                len(grid.store_ids), grid.date_of(0).date(), grid.date_of(end_idx).date(),
                grid.date_of(inner).date(), len(train_s), int((w_tr > 0).sum()), len(val_s),
                int((w_va > 0).sum()), time.perf_counter() - t0)

    year_ago = bool(cfg["year_ago_covariates"])
    net = {"window_days": w, "n_window_features": len(WINDOW_FEATURES),
           "n_target_features": len(TARGET_FEATURES) + len(YEAR_AGO_FEATURES) * year_ago,
           "year_ago": year_ago, "n_stores": len(grid.store_ids),
           "store_embedding_dim": int(cfg["store_embedding_dim"]),
           "lstm_units": [int(u) for u in cfg["lstm_units"]],
           "dense_units": [int(u) for u in cfg["dense_units"]]}
    if len(net["lstm_units"]) != 2:
        raise ValueError(f"lstm_units must list the two LSTM layers' sizes, got {cfg['lstm_units']}")
    n_members = int(cfg["ensemble_members"])
    n_train_targets = int((w_tr > 0).sum())
    labels = ["LSTM" if n_members == 1 else f"LSTM member {k + 1}/{n_members}"
              for k in range(n_members)]
    t_fit = time.perf_counter()
    processes = min(int(member_processes), n_members)
    if processes > 1:  # every member's draw first (the same draws, in the same order), then
        trainings = [(x_tr, y_tr, w_tr)]  # all members at once in their own processes
        for _ in range(1, n_members):
            train_s = draw_training_samples()
            trainings.append(assemble(grid, cov_scaled, train_s, cfg, fallback, tscale, offset)[:3])
        del x_tr, y_tr, w_tr
        results = fit_members_in_processes(net, cfg, trainings, (x_va, y_va, w_va), labels,
                                           processes)
        del trainings
    else:
        results = []
        for k in range(n_members):
            if k > 0:  # its own draw of training windows and targets; same scalers and held-out set
                del x_tr, y_tr, w_tr
                train_s = draw_training_samples()
                x_tr, y_tr, w_tr, _ = assemble(grid, cov_scaled, train_s, cfg, fallback, tscale, offset)
            results.append(fit_member(net, cfg, k, (x_tr, y_tr, w_tr), (x_va, y_va, w_va),
                                      labels[k]))
        del x_tr, y_tr, w_tr
    fit_seconds = time.perf_counter() - t_fit  # wall time of all members (side by side or not)
    members = [member for member, _, _ in results]
    histories = [history.assign(member=k + 1) for k, (_, history, _) in enumerate(results)]
    pred = np.zeros(w_va.shape)
    for _, _, held_out_pred in results:  # in member order, as the served mean adds them
        pred += held_out_pred / n_members
    best_epochs = [int(h["val_loss"].idxmin()) + 1 for h in histories]
    history = pd.concat(histories, ignore_index=True)

    # conformal calibration on the held-out log residuals of the members' mean (lead times
    # 1..horizon): the served forecast is that mean, so its residuals set the band
    pred_log = (lvl_va[:, None] + offset[val_s.store_idx[:, None], val_s.target]
                + (pred - tscale[1][0]) / tscale[0][0])
    m = w_va > 0
    resid = grid.log_sales[val_s.store_idx[:, None], val_s.target][m] - pred_log[m]
    store_of = np.broadcast_to(grid.store_ids[val_s.store_idx][:, None], m.shape)[m]
    lead_of = (val_s.target - val_s.anchor[:, None])[m]
    interval = LeadBandedInterval(float(cfg["interval_level"]),
                                  int(cfg["interval_band_days"])).fit(store_of, lead_of, resid)

    forecaster = LSTMForecaster(
        config=cfg, net=net, members=members,
        train_store_ids=grid.store_ids, target_scale=tscale, covariate_scale=cscale,
        interval=interval,
        training={"train_start": str(grid.date_of(0).date()), "early_stopping_split": str(grid.date_of(inner).date()),
                  "fit_end": str(grid.date_of(end_idx).date()),
                  "members": n_members, "epochs_trained": [len(h) for h in histories],
                  "best_epoch": best_epochs, "fit_seconds": round(fit_seconds, 1),
                  "n_train_windows": len(train_s), "n_train_targets": n_train_targets,
                  "n_calibration_residuals": int(m.sum()),
                  "history": history.to_dict(orient="list")},
    )
    forecaster.set_history(sales, context)
    return forecaster


def fit_member(net: dict[str, Any], cfg: dict[str, Any], k: int, train: tuple, held_out: tuple,
               label: str) -> tuple[NetworkMember, pd.DataFrame, np.ndarray]:
    """Build and fit member k (Keras seeded with seed + k; early stopping on `held_out`, best
    weights restored): (its weights as a member, its epoch log, its held-out prediction). The
    in-process loop and `member_processes` both call this, so both train the same networks."""
    keras = import_keras()
    keras.utils.set_random_seed(int(cfg["seed"]) + k)
    model, _ = build_network(net)
    model.compile(optimizer=keras.optimizers.Adam(float(cfg["learning_rate"])), loss="mse")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(cfg["early_stopping_patience"]),
                                         restore_best_weights=True)
    t0 = time.perf_counter()
    x, y, weight = train
    hist = model.fit(x, y, sample_weight=weight, validation_data=held_out, epochs=int(cfg["epochs"]),
                     batch_size=int(cfg["batch_size"]), shuffle=True, verbose=0,
                     callbacks=[stop, _LogProgress(label)])
    history = pd.DataFrame(hist.history).rename_axis("epoch").reset_index()
    history["epoch"] += 1
    history.attrs["fit_seconds"] = time.perf_counter() - t0
    logger.info("%s trained %d epochs (best %d, val_loss %.5f) in %.1fs", label, len(history),
                int(history["val_loss"].idxmin()) + 1, float(history["val_loss"].min()),
                history.attrs["fit_seconds"])
    member = NetworkMember(weights=[np.asarray(v) for v in model.get_weights()],
                           head=head_weights(model, len(net["dense_units"])))
    held_out_pred = np.asarray(model.predict(held_out[0], batch_size=2048, verbose=0))[..., 0]
    return member, history, held_out_pred


# --------------------------------------------------------------------------------------------
# The served object
# --------------------------------------------------------------------------------------------
def interval_method(interval: LeadBandedInterval | HorizonConformalInterval) -> str:
    """How the served bands were calibrated, for the model's metadata."""
    if isinstance(interval, HorizonConformalInterval):
        return ("conformal on the backtest folds' out-of-sample log residuals, per horizon week "
                "(the last week's band beyond), per-store scale, week levels chosen "
                "leave-one-fold-out")
    return ("split-conformal on log residuals of held-out windows, per-store scale, per "
            f"{interval.band_days}-day lead-time band")


class LSTMForecaster:
    """The served LSTM model (implements `rossmann_kedro.forecaster.Forecaster`).

    Holds the config and the weights of its `ensemble_members` networks (trained from different
    seeds and draws of training windows; the forecast is the mean of their log predictions, which
    cuts the seed-to-seed spread), the Keras model itself rebuilt lazily and never pickled; the
    two (-1, 1) scalers, the frozen `FeatureContext`, the interval calibration (its own, or the
    backtest folds' that lstm_model puts in when the backtest scored these settings), and
    per-store serving state computed from the last `window_days` of history: the window level
    and each member's context projection. Valid request dates are `history_end + 1 .. history_end +
    horizon_days`; others raise ValueError (the server answers INVALID_ARGUMENT).
    """

    name = "lstm"

    def __init__(self, *, config: dict[str, Any], net: dict[str, Any], members: list[NetworkMember],
                 train_store_ids: np.ndarray, target_scale: tuple[np.ndarray, np.ndarray],
                 covariate_scale: tuple[np.ndarray, np.ndarray],
                 interval: LeadBandedInterval | HorizonConformalInterval,
                 training: dict[str, Any]) -> None:
        if not members:
            raise ValueError("an LSTMForecaster needs at least one trained network")
        self.config = dict(config)
        self.net = dict(net)
        self.members = list(members)
        self.train_store_ids = np.asarray(train_store_ids, np.int64)
        self.target_scale = target_scale
        self.covariate_scale = covariate_scale
        self.interval = interval
        # store event gaps added to the log forecast (`rossmann_kedro.models.events`): lstm_model
        # puts in the weights the backtest learnt for these settings; none otherwise
        self.event_weights: dict[str, float] = {}
        # log of the bias correction the backtest learnt for these settings (0 = none)
        self.log_shift = 0.0
        self.training = training
        self.horizon_days = int(config["horizon_days"])
        self._model = None
        # set by set_history
        self.context: FeatureContext | None = None
        self.stores: frozenset[int] = frozenset()
        self.metadata: dict[str, Any] = {}
        self.history_end_day = 0
        self._store_ids = np.zeros(0, np.int64)
        self._level = np.zeros(0)
        self._ctx = np.zeros((len(self.members), 0, 0))  # (member, store, head units)
        self._year_ago: np.ndarray | None = None  # (store, lead - 1, 3) scaled year-ago covariates

    # -- pickling: plain numpy state only; the Keras model is rebuilt on demand ----------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "members" not in state:  # pickled before ensembles: one network
            state["members"] = [NetworkMember(state.pop("weights"), state.pop("_head"))]
            state["_ctx"] = state["_ctx"][None]
        state.setdefault("event_weights", {})  # pickled before event adjustments: none
        state.setdefault("log_shift", 0.0)      # pickled before the LSTM's bias test: none
        state.pop("fallback_level", None)       # pickled before the gap-aware fallback: unused
        state.setdefault("_year_ago", None)      # pickled before the year-ago covariates: none
        self.__dict__.update(state)
        self._model = None

    def keras_network(self):
        """(model, encoder) with the architecture of every member (Keras imported on first use);
        `set_weights(member.weights)` on the model makes the encoder encode with that member."""
        if self._model is None:
            self._model = build_network(self.net)
        return self._model

    # -- history ---------------------------------------------------------------------------------
    def set_history(self, sales: pd.DataFrame, context: FeatureContext) -> LSTMForecaster:
        """Make the forecaster predict from the history in `sales` up to the end of `context`'s
        statistics (`context.train_end`; feature_engineering's full context for the served
        model): takes that context, re-encodes every trained store's last window and refreshes
        the metadata. The network weights are not changed. Returns self."""
        t0 = time.perf_counter()
        cfg, w = self.config, int(self.config["window_days"])
        sales = sales.loc[sales["Store"].isin(self.train_store_ids)]
        grid = build_grid(sales, end=pd.Timestamp(context.train_end))
        end_idx = grid.n_days - 1
        emb_idx = np.searchsorted(self.train_store_ids, grid.store_ids)
        level, n_valid = window_levels(grid, np.arange(len(grid.store_ids)),
                                       np.full(len(grid.store_ids), end_idx), w,
                                       FallbackLevels.fit(grid, end_idx),
                                       int(cfg["min_valid_days"]))
        windows = window_tensor(grid, np.arange(len(grid.store_ids)),
                                np.full(len(grid.store_ids), end_idx), w, level, self.target_scale)
        model, encoder = self.keras_network()
        ctx = []
        for member in self.members:
            model.set_weights(member.weights)
            ctx.append(encoder.predict({"window": windows,
                                        "store": emb_idx[:, None].astype(np.int32)},
                                       batch_size=2048, verbose=0))
        if self.net.get("year_ago"):
            self._year_ago = scaled_year_ago(year_ago_covariates(
                grid.log_sales, _history_cell_offsets(grid, sales, context, self.horizon_days),
                np.arange(len(grid.store_ids)), np.full(len(grid.store_ids), end_idx),
                end_idx + np.arange(1, self.horizon_days + 1)[None, :].repeat(len(grid.store_ids), 0),
                w, int(cfg["min_valid_days"]), moving_event_days(grid)), self.target_scale)
        self.context = context
        self._store_ids = grid.store_ids
        self._level = level.astype(np.float64)
        self._ctx = np.asarray(ctx, dtype=np.float64)
        self.history_end_day = grid.start_day + end_idx
        self.stores = frozenset(int(s) for s in grid.store_ids)
        end_date = grid.date_of(end_idx)
        self.metadata = {
            **self.metadata,
            "name": self.name,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "train_start": self.training["train_start"],
            "train_end": str(end_date.date()),
            "weights_fit_end": self.training["fit_end"],
            "history_end": str(end_date.date()),
            "horizon_days": self.horizon_days,
            "valid_dates": [str((end_date + pd.Timedelta(days=1)).date()),
                            str((end_date + pd.Timedelta(days=self.horizon_days)).date())],
            "interval_level": self.interval.level,
            "interval_method": interval_method(self.interval),
            "feature_names": [*(f"window:{f}" for f in WINDOW_FEATURES),
                              *(f"target:{f}" for f in TARGET_FEATURES[:-1]),
                              *(f"target:{f}" for f in YEAR_AGO_FEATURES if self.net.get("year_ago")),
                              "target:lead", "store_embedding"],
            "n_stores": len(grid.store_ids),
            "stores_with_short_window": int(np.sum(n_valid < int(cfg["min_valid_days"]))),
            "config": {k: v for k, v in cfg.items()},
            "training": {k: v for k, v in self.training.items() if k != "history"},
        }
        self.metadata.setdefault("metrics", {})
        logger.info("LSTM history set to %s..%s for %d stores (%d with a short window: "
                    "long-run level moved by the chain's days) in %.1fs; valid dates %s..%s", grid.date_of(0).date(),
                    end_date.date(), len(grid.store_ids), self.metadata["stores_with_short_window"],
                    time.perf_counter() - t0, *self.metadata["valid_dates"])
        return self

    # -- prediction ------------------------------------------------------------------------------
    def _lead_and_positions(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        missing = [c for c in ("Store", "Date", "Promo", "StateHoliday", "SchoolHoliday")
                   if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack columns {missing}")
        stores = rows["Store"].to_numpy()
        if stores.dtype.kind not in "iu":
            try:
                stores = pd.to_numeric(rows["Store"], errors="raise").to_numpy()
                if np.isnan(stores.astype(np.float64)).any():
                    raise ValueError("missing value")
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column 'Store': not an integer ({exc})") from exc
        stores = stores.astype(np.int64)
        pos = np.searchsorted(self._store_ids, stores)
        pos_c = np.clip(pos, 0, max(len(self._store_ids) - 1, 0))
        unknown = self._store_ids[pos_c] != stores
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise RowError(i, "Store", f"Store {stores[i]} is unknown to the LSTM model")
        dates = rows["Date"].to_numpy()
        if dates.dtype.kind != "M":
            try:
                dates = pd.to_datetime(rows["Date"]).to_numpy()
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column 'Date': cannot parse ({exc})") from exc
        if np.isnat(dates).any():
            i = int(np.flatnonzero(np.isnat(dates))[0])
            raise RowError(i, "Date", "Date is missing")
        days = dates.astype("datetime64[D]").astype(np.int64)
        lead = days - self.history_end_day
        bad = (lead < 1) | (lead > self.horizon_days)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            lo, hi = self.metadata["valid_dates"]
            why = ("is not after the end of the model's history" if lead[i] < 1 else
                   f"is more than {self.horizon_days} days after the end of the model's history")
            raise RowError(i, "Date", f"Date {np.datetime64(int(days[i]), 'D')} {why} "
                           f"({self.metadata['history_end']}); the LSTM forecasts {lo}..{hi}")
        return stores, pos, lead

    def predict_log(self, rows: pd.DataFrame, pos: np.ndarray, lead: np.ndarray) -> np.ndarray:
        """Predicted log1p(Sales) for open `rows` (store positions and lead times given)."""
        feats = build_features(rows, self.context).to_numpy()
        scale, mn = self.covariate_scale
        raw = covariate_matrix(feats)
        parts = [raw * scale + mn]
        if self.net.get("year_ago"):
            parts.append(self._year_ago[pos, lead - 1])
        x = np.hstack([*parts, scaled_lead(lead, self.horizon_days)[:, None]])
        out = np.zeros(len(x))
        for member, ctx in zip(self.members, self._ctx, strict=True):
            (k0, b0), *rest = member.head
            h = np.maximum(ctx[pos] + x @ k0 + b0, 0.0)
            for j, (k, b) in enumerate(rest):
                h = h @ k + b
                if j < len(rest) - 1:
                    h = np.maximum(h, 0.0)
            out += h[:, 0]
        ts, tm = self.target_scale
        # the scaling is linear, so the mean of the members' scaled outputs is their mean log
        return (self._level[pos] + raw[:, CELL_OFFSET] + (out / len(self.members) - tm[0]) / ts[0]
                + event_shift(self.event_weights, feats) + self.log_shift)

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Sales with a prediction interval for Kaggle test.csv-format rows (see Forecaster)."""
        stores, pos, lead = self._lead_and_positions(rows)
        if "Open" in rows.columns:
            op = rows["Open"].to_numpy()
            if op.dtype.kind not in "iub":
                op = pd.to_numeric(rows["Open"], errors="coerce").fillna(1).to_numpy()
            open_ = op != 0
        else:
            open_ = np.ones(len(rows), bool)
        out = np.zeros((len(rows), 3), dtype=np.float64)
        if open_.any():
            if open_.all():
                pred_log = self.predict_log(rows, pos, lead)
            else:
                try:
                    pred_log = self.predict_log(rows.loc[open_], pos[open_], lead[open_])
                except RowError as exc:
                    # build_features saw the open rows only: name the row in `rows` instead
                    raise exc.renumbered(np.flatnonzero(open_)) from exc
            lo, hi = self.interval.bounds(stores[open_], pred_log, lead[open_])
            sales = np.expm1(pred_log)
            # the band always contains the point forecast (a biased calibration could shift it)
            out[open_] = np.column_stack([sales, np.minimum(lo, sales), np.maximum(hi, sales)])
        return pd.DataFrame(out, index=rows.index, columns=list(PREDICTION_COLUMNS))


# --------------------------------------------------------------------------------------------
# Evaluation helpers used by the pipeline
# --------------------------------------------------------------------------------------------
def validation_report(forecaster: LSTMForecaster, rows: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics (RMSPE/RMSE/MAE on Sales > 0, interval coverage overall and by lead-time band) of
    `forecaster.predict` on validation `rows` (sales_clean format), and the predictions."""
    pred = forecaster.predict(rows)
    y = rows["Sales"].to_numpy(np.float64)
    metrics = evaluate(y, pred["Sales"].to_numpy())
    lo, hi = pred["lower"].to_numpy(), pred["upper"].to_numpy()
    lead = cal.to_day_numbers(rows["Date"]) - forecaster.history_end_day
    by_week = {}
    for wk in range(int(np.ceil(lead.max() / 7))):
        m = (lead > 7 * wk) & (lead <= 7 * (wk + 1))
        if m.any():
            by_week[f"week_{wk + 1}"] = {"rmspe": evaluate(y[m], pred["Sales"].to_numpy()[m])["rmspe"],
                                         "coverage": coverage(y[m], lo[m], hi[m])}
    report = {"model": "lstm", **metrics, "interval_level": forecaster.interval.level,
              "coverage": coverage(y, lo, hi),
              "mean_relative_width": float(np.mean(((hi - lo) / np.maximum(y, 1.0))[y > 0])),
              "by_lead_week": by_week,
              "validation_start": str(pd.to_datetime(rows["Date"]).min().date()),
              "validation_end": str(pd.to_datetime(rows["Date"]).max().date())}
    out = rows[["Store", "Date", "Open", "Sales"]].rename(columns={"Sales": "actual"}).copy()
    out[["Sales", "lower", "upper"]] = pred[["Sales", "lower", "upper"]].to_numpy()
    out["lead_days"] = lead
    return report, out.reset_index(drop=True)
