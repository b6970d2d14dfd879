"""The models the server answers with: loaded through the project's Kedro catalog (so the catalog,
not the server, decides where model files live), versioned, validated and hot-reloaded.

A background thread polls each model's versioned dataset directory; a newer version is loaded
fully, validated (it is a Forecaster and predicts every store it knows on a range of dates, all
finite and ordered; see `validate_forecaster`) and only then swapped in by one
reference assignment, so requests in flight keep the object they already hold. A version that
fails to load or validate is logged once and skipped (retried only if its file changes, which
covers a version still being written); it never replaces a good model. Versions are ordered by
their Kedro timestamp; one named later than now + a tolerance (a machine with a wrong clock) is
ignored by hot reload, logged once, and can still be pinned.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from grpc_server.convert import frame_from_columns
from grpc_server.errors import FailedPrecondition, NotFound, Unavailable
from rossmann_kedro.forecaster import PREDICTION_COLUMNS, Forecaster

logger = logging.getLogger(__name__)

LOADING, SERVING, FAILED = "LOADING", "SERVING", "FAILED"
DEFAULT_MODELS = {"tree": "tree_forecaster", "lstm": "lstm_forecaster"}


class InvalidModelError(Exception):
    """A loaded object that must not be served."""


@dataclass(frozen=True)
class LoadedModel:
    """One validated model version, immutable once published."""

    name: str
    dataset: str
    version: str
    forecaster: Forecaster
    known_stores: np.ndarray  # sorted int64, for vectorised store validation
    loaded_at: str


@dataclass
class _ModelState:
    name: str
    dataset: str
    current: LoadedModel | None = None
    error: str = ""
    attempted: bool = False
    # version -> (size, mtime_ns) of its file when it failed; retried when that changes
    rejected: dict[str, tuple[int, int]] = field(default_factory=dict)
    pinned: OrderedDict[str, LoadedModel] = field(default_factory=OrderedDict)
    ignored: set[str] = field(default_factory=set)  # versions hot reload does not consider
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def status(self) -> str:
        if self.current is not None:
            return SERVING
        return FAILED if self.attempted and self.rejected else LOADING


def load_project_catalog(project_path: Path, env: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The Kedro catalog and raw parameters of the project at `project_path`, from the project's
    own settings (config loader class and arguments, conf source, catalog class), as `kedro run`
    builds them, with public Kedro APIs only. No session: serving runs no pipeline, so no
    pipeline code is imported and no run hooks fire."""
    from kedro.config import MissingConfigException
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_path / settings.CONF_SOURCE), env=env,
        **settings.CONFIG_LOADER_ARGS,
    )
    try:
        credentials = loader["credentials"]
    except MissingConfigException:
        credentials = {}
    catalog = settings.DATA_CATALOG_CLASS.from_config(
        catalog=_absolute_filepaths(loader["catalog"], project_path), credentials=credentials)
    return catalog, dict(loader["parameters"])


def _absolute_filepaths(conf: dict[str, Any], root: Path) -> dict[str, Any]:
    """`conf` with relative local paths (`filepath`, `path`, `filename`, at any depth) anchored
    at the project root, as `kedro run` does, so the server works from any directory."""
    out: dict[str, Any] = {}
    for key, value in conf.items():
        if isinstance(value, dict):
            value = _absolute_filepaths(value, root)
        elif (key in ("filepath", "path", "filename") and isinstance(value, str)
              and "://" not in value and not Path(value).is_absolute()):
            value = (root / value).as_posix()
        out[key] = value
    return out


# Days after the end of training a new version must forecast for every store before it may
# serve: the product forecasts six weeks ahead.
VALIDATION_DAYS = (1, 2, 7, 14, 28, 42)
KEDRO_VERSION_FORMAT = "%Y-%m-%dT%H.%M.%S.%fZ"


def validation_frame(forecaster: Forecaster, known: np.ndarray) -> pd.DataFrame:
    """The request a version must answer before it may serve: every store it knows, on
    VALIDATION_DAYS after its training ends, open without and with promo, then closed."""
    meta = getattr(forecaster, "metadata", {}) or {}
    try:
        end = date.fromisoformat(str(meta.get("train_end", ""))[:10])
    except ValueError:
        end = date(2015, 7, 31)
    days = np.array([np.datetime64(end + timedelta(days=d), "D") for d in VALIDATION_DAYS])
    open_promo = [(1, 0), (1, 1), (0, 0)]  # (Open, Promo)
    store = np.tile(np.repeat(known, len(days)), len(open_promo))
    day = np.tile(days, len(known) * len(open_promo))
    flags = np.repeat(np.array(open_promo, dtype=np.int64), len(known) * len(days), axis=0)
    n = len(store)
    return frame_from_columns([{
        "Store": store, "DayOfWeek": (day.astype(np.int64) + 3) % 7 + 1,
        "Date": day.astype("datetime64[ns]"), "Open": flags[:, 0], "Promo": flags[:, 1],
        "StateHoliday": ["0"] * n, "SchoolHoliday": np.zeros(n, dtype=np.int64),
    }])


def validate_forecaster(obj: Any) -> np.ndarray:
    """Check that `obj` can serve: the Forecaster contract, and a prediction for every store it
    knows on a range of dates (see `validation_frame`) that is finite, ordered
    (lower <= Sales <= upper) and 0..0 on closed days. Returns its sorted stores."""
    if not isinstance(obj, Forecaster):
        raise InvalidModelError(f"loaded a {type(obj).__name__}, not a Forecaster")
    try:
        known = np.array(sorted(int(s) for s in obj.stores), dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise InvalidModelError(f"stores is not a set of ints: {exc}") from exc
    if known.size == 0:
        raise InvalidModelError("the model knows no stores")
    if not isinstance(obj.metadata, Mapping):
        raise InvalidModelError("metadata is not a mapping")
    frame = validation_frame(obj, known)
    try:
        out = obj.predict(frame)
    except ValueError as exc:
        raise InvalidModelError(
            f"cannot forecast every store {VALIDATION_DAYS[0]}..{VALIDATION_DAYS[-1]} days "
            f"after training ends: {exc}") from exc
    if not isinstance(out, pd.DataFrame) or any(c not in out.columns for c in PREDICTION_COLUMNS):
        raise InvalidModelError(f"predict returned no {PREDICTION_COLUMNS} frame")
    values = out[list(PREDICTION_COLUMNS)].to_numpy(dtype=np.float64)
    if values.shape[0] != len(frame):
        raise InvalidModelError(f"predict returned {values.shape[0]} rows for {len(frame)}")

    def where(bad: np.ndarray) -> str:
        i = int(np.flatnonzero(bad)[0])
        return (f"{int(bad.sum())} of {len(frame)} validation rows, e.g. store "
                f"{frame['Store'].iat[i]} on {frame['Date'].iat[i].date()}")

    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        raise InvalidModelError(f"predictions are not finite for {where(~finite)}")
    sales, lower, upper = values.T
    disordered = (lower > sales + 1e-9) | (sales > upper + 1e-9)
    if disordered.any():
        raise InvalidModelError(f"lower <= Sales <= upper is violated for {where(disordered)}")
    closed_nonzero = (frame["Open"].to_numpy() == 0) & (np.abs(values).max(axis=1) != 0)
    if closed_nonzero.any():
        raise InvalidModelError(
            f"a closed store-day did not predict 0 with a 0..0 interval: {where(closed_nonzero)}")
    return known


def public_reason(exc: BaseException) -> str:
    """What a client may see of why a version cannot be served: our own validation message, or
    only the type of the load failure (its message and traceback can name server paths; they go
    to the server log)."""
    if isinstance(exc, InvalidModelError):
        return str(exc)
    root = exc
    while root.__cause__ is not None or (root.__context__ is not None
                                         and not root.__suppress_context__):
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    kind = type(root).__name__ if root is exc else f"{type(exc).__name__} <- {type(root).__name__}"
    return f"the file cannot be loaded ({kind}; details in the server log)"


def version_time(version: str) -> datetime | None:
    """The UTC time a Kedro version timestamp names, or None if it is not one."""
    try:
        return datetime.strptime(version, KEDRO_VERSION_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


class ModelRegistry:
    """Serves `LoadedModel`s by name and version; hot-reloads new catalog versions."""

    def __init__(
        self,
        catalog: Any,
        models: Mapping[str, str] | None = None,
        default_model: str = "tree",
        poll_interval: float = 2.0,
        pinned_cache_size: int = 4,
        on_change: Callable[[ModelRegistry], None] | None = None,
        future_version_tolerance_seconds: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._catalog = catalog
        self.future_tolerance = timedelta(seconds=future_version_tolerance_seconds)
        self._clock = clock
        self.default_model = default_model
        self.poll_interval = poll_interval
        self.pinned_cache_size = pinned_cache_size
        self.on_change = on_change
        # (event, model, version) for each version swapped in ("reloaded") or refused
        # ("rejected"): metrics hook
        self.on_event: Callable[[str, str, str], None] | None = None
        self._states: dict[str, _ModelState] = {}
        for name, dataset in (models or DEFAULT_MODELS).items():
            if dataset in catalog:
                self._states[name] = _ModelState(name=name, dataset=dataset)
            else:
                logger.info("Model %r not served: no dataset %r in the catalog", name, dataset)
        if not self._states:
            logger.warning("None of the configured models %s is in the catalog", dict(models or {}))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def catalog(self) -> Any:
        """The Kedro catalog the models come from (the server reads store data from it too)."""
        return self._catalog

    @property
    def model_names(self) -> list[str]:
        return list(self._states)

    # ---- lookups (hot path) -------------------------------------------------------------
    def get(self, model: str = "", version: str = "") -> LoadedModel:
        """The model to answer a request with: the latest loaded, or a pinned version."""
        state = self._states.get(model or self.default_model)
        if state is None:
            raise NotFound(
                f"model: unknown model {model!r}; this server serves {sorted(self._states)}"
            )
        current = state.current
        if not version or (current is not None and current.version == version):
            if current is None:
                raise Unavailable(
                    f"model {state.name!r} has no loaded version yet (status {state.status}"
                    f"{': ' + state.error if state.error else ''}); retry later"
                )
            return current
        pinned = state.pinned.get(version)
        if pinned is not None:
            return pinned
        return self._load_pinned(state, version)

    def _load_pinned(self, state: _ModelState, version: str) -> LoadedModel:
        on_disk = self.versions_on_disk(state.name)
        if version not in on_disk:
            raise NotFound(
                f"version: model {state.name!r} has no version {version!r}; versions on disk: "
                f"{on_disk[:10]}"
            )
        with state.lock:
            if version in state.pinned:
                return state.pinned[version]
            try:
                loaded = self._load_version(state, version)
            except Exception as exc:  # any failure means "cannot serve this"
                logger.warning("Pinned version %s of %s cannot be served: %s: %s",
                               version, state.name, type(exc).__name__, exc)
                raise FailedPrecondition(
                    f"version: {state.name!r} version {version!r} cannot be served: "
                    f"{public_reason(exc)}"
                ) from exc
            state.pinned[version] = loaded
            while len(state.pinned) > self.pinned_cache_size:
                state.pinned.popitem(last=False)
            return loaded

    # ---- versions and loading -----------------------------------------------------------
    def _version_paths(self, state: _ModelState) -> list[str]:
        dataset = self._catalog.get(state.dataset)
        try:
            return list(dataset.list_versions(full_path=True))  # newest first
        except Exception as exc:  # missing dir, permissions
            logger.debug("No versions of %s: %s", state.dataset, exc)
            return []

    def versions_on_disk(self, model: str) -> list[str]:
        """Catalog versions of `model`'s dataset, newest first."""
        state = self._states[model]
        return [PurePath(p).parent.name for p in self._version_paths(state)]

    def _load_version(self, state: _ModelState, version: str) -> LoadedModel:
        started = time.perf_counter()
        obj = self._catalog.load(state.dataset, version=version)
        known = validate_forecaster(obj)
        loaded = LoadedModel(
            name=state.name, dataset=state.dataset, version=version, forecaster=obj,
            known_stores=known, loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        logger.info("Loaded and validated %s version %s (%d stores) in %.2f s",
                    state.name, version, known.size, time.perf_counter() - started)
        return loaded

    def refresh(self) -> bool:
        """One poll: for each model, serve the newest version on disk that loads and validates,
        if it is newer than the one being served. Returns whether anything changed."""
        changed = False
        for state in self._states.values():
            changed |= self._refresh_one(state)
        if changed and self.on_change is not None:
            self.on_change(self)
        return changed

    def _refresh_one(self, state: _ModelState) -> bool:
        current = state.current
        latest_allowed = self._clock() + self.future_tolerance
        for path in self._version_paths(state):
            version = PurePath(path).parent.name
            named = version_time(version)
            if named is None or named > latest_allowed:
                # A version named in the future (a machine with a wrong clock) would otherwise
                # be "newest" forever and hide every genuinely newer run; it can still be pinned.
                if version not in state.ignored:
                    state.ignored.add(version)
                    logger.warning(
                        "Ignoring %s version %s for hot reload: %s; pin it to use it",
                        state.name, version, "not a Kedro version timestamp" if named is None
                        else f"named more than {self.future_tolerance} after now")
                continue
            if current is not None and version <= current.version:
                break  # newest first: nothing newer left
            try:
                st = os.stat(path)
                signature = (st.st_size, st.st_mtime_ns)
            except OSError:
                continue
            if state.rejected.get(version) == signature:
                continue
            try:
                loaded = self._load_version(state, version)
            except Exception as exc:  # a bad file must never take the server down
                state.rejected[version] = signature
                state.error = f"version {version} skipped: {public_reason(exc)}"
                self._notify("rejected", state.name, version)
                logger.warning("Skipping %s version %s (%s): %s: %s", state.name, version, path,
                               type(exc).__name__, exc,
                               exc_info=logger.isEnabledFor(logging.DEBUG))
                continue
            state.rejected.pop(version, None)
            state.current = loaded  # the atomic swap: one reference assignment
            state.error = ""
            state.attempted = True
            logger.info("Now serving %s version %s (was %s)", state.name, version,
                        current.version if current else "none")
            self._notify("reloaded", state.name, version)
            return True
        state.attempted = True
        return False

    def _notify(self, event: str, model: str, version: str) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event, model, version)
            except Exception:  # a metrics hook must not stop reloading
                logger.exception("on_event hook failed")

    # ---- background polling -------------------------------------------------------------
    def start(self) -> None:
        """Load the models and keep polling for new versions in a daemon thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll_loop, name="model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the poller must survive anything
                logger.exception("Model reload poll failed; will retry")
            self._stop.wait(self.poll_interval)

    # ---- status -------------------------------------------------------------------------
    def any_serving(self) -> bool:
        return any(s.current is not None for s in self._states.values())

    def info(self, model: str = "") -> list[dict[str, Any]]:
        """What GetModelInfo reports, one dict per model (all models when `model` is empty)."""
        if model and model not in self._states:
            raise NotFound(
                f"model: unknown model {model!r}; this server serves {sorted(self._states)}"
            )
        names = [model] if model else list(self._states)
        out = []
        for name in names:
            state = self._states[name]
            current = state.current
            meta: Mapping[str, Any] = (current.forecaster.metadata or {}) if current else {}
            metrics = meta.get("metrics") or {}
            out.append({
                "name": name,
                "dataset": state.dataset,
                "version": current.version if current else "",
                "status": state.status,
                "error": state.error,
                "loaded_at": current.loaded_at if current else "",
                "trained_at": str(meta.get("trained_at", "")),
                "train_start": str(meta.get("train_start", ""))[:10],
                "train_end": str(meta.get("train_end", ""))[:10],
                "metrics": {k: float(metrics.get(k, float("nan")))
                            for k in ("rmspe", "rmse", "mae")},
                "interval_level": float(meta.get("interval_level", 0.0) or 0.0),
                "feature_names": [str(f) for f in meta.get("feature_names", []) or []],
                "n_stores": int(current.known_stores.size) if current else 0,
                "versions_on_disk": self.versions_on_disk(name),
                "backtest": dict(meta.get("backtest") or {}),
            })
        return out
