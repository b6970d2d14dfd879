"""The models the server answers with: loaded through the project's Kedro catalog (so the catalog,
not the server, decides where model files live), versioned, validated and hot-reloaded.

A background thread polls each model's versioned dataset directory; a newer version is loaded
fully, validated (it is a Forecaster and predicts a smoke batch) and only then swapped in by one
reference assignment, so requests in flight keep the object they already hold. A version that
fails to load or validate is logged once and skipped (retried only if its file changes, which
covers a version still being written); it never replaces a good model.
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

from grpc_server.convert import rows_to_frame
from grpc_server.errors import FailedPrecondition, NotFound, Unavailable
from rossmann.v1 import forecast_pb2
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
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def status(self) -> str:
        if self.current is not None:
            return SERVING
        return FAILED if self.attempted and self.rejected else LOADING


def load_project_catalog(project_path: Path, env: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Build the Kedro catalog and parameters of the project at `project_path` (Kedro 1.x API:
    bootstrap the project, then a session's context), exactly as `kedro run` would see them."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        context = session.load_context()
        # Kedro 1.7 validates typed parameters against every registered pipeline when the
        # catalog is built, importing all pipeline modules. Serving runs no pipeline: scope the
        # validation to none (as `session.run` scopes it to the pipelines it runs), so the
        # server does not depend on pipeline code it never executes.
        if hasattr(context, "_pipelines_to_validate"):
            context._pipelines_to_validate = []  # noqa: SLF001
        return context.catalog, dict(context.params)


def smoke_rows(forecaster: Forecaster) -> list[forecast_pb2.StoreDay]:
    """A small request the model must answer before it may serve: two stores, the day after
    training ends, one open (no promo), one open with promo, one closed."""
    stores = sorted(forecaster.stores)[:2]
    meta = getattr(forecaster, "metadata", {}) or {}
    try:
        day = date.fromisoformat(str(meta.get("train_end", ""))[:10]) + timedelta(days=1)
    except ValueError:
        day = date(2015, 8, 1)
    rows = []
    for i, (store, open_, promo) in enumerate(
        [(stores[0], True, False), (stores[-1], True, True), (stores[0], False, False)]
    ):
        rows.append(forecast_pb2.StoreDay(
            store=store, date=day.isoformat(), open=open_, promo=promo, state_holiday="0",
            school_holiday=False, id=i,
        ))
    return rows


def validate_forecaster(obj: Any) -> np.ndarray:
    """Check that `obj` can serve: the Forecaster contract, and a smoke prediction that is
    finite, ordered (lower <= Sales <= upper) and 0..0 on a closed day. Returns its sorted stores.
    """
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
    converted = rows_to_frame(smoke_rows(obj), known, max_rows=10)
    out = obj.predict(converted.frame)
    if not isinstance(out, pd.DataFrame) or any(c not in out.columns for c in PREDICTION_COLUMNS):
        raise InvalidModelError(f"predict returned no {PREDICTION_COLUMNS} frame")
    values = out[list(PREDICTION_COLUMNS)].to_numpy(dtype=np.float64)
    if values.shape[0] != len(converted.frame) or not np.isfinite(values).all():
        raise InvalidModelError(f"smoke prediction is not {len(converted.frame)} finite rows")
    sales, lower, upper = values.T
    if (lower > sales + 1e-9).any() or (sales > upper + 1e-9).any():
        raise InvalidModelError("smoke prediction violates lower <= Sales <= upper")
    if np.abs(values[2]).max() != 0:
        raise InvalidModelError("a closed store-day did not predict 0 with a 0..0 interval")
    return known


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
    ) -> None:
        self._catalog = catalog
        self.default_model = default_model
        self.poll_interval = poll_interval
        self.pinned_cache_size = pinned_cache_size
        self.on_change = on_change
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
            except Exception as exc:  # noqa: BLE001 - any failure means "cannot serve this"
                logger.warning("Pinned version %s of %s cannot be served: %s",
                               version, state.name, exc)
                raise FailedPrecondition(
                    f"version: {state.name!r} version {version!r} cannot be served: {exc}"
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
        except Exception as exc:  # noqa: BLE001 - missing dir, permissions
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
        for path in self._version_paths(state):
            version = PurePath(path).parent.name
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
            except Exception as exc:  # noqa: BLE001 - a bad file must never take the server down
                state.rejected[version] = signature
                state.error = f"version {version} skipped: {type(exc).__name__}: {exc}"
                logger.warning("Skipping %s version %s (%s); %s", state.name, version, path,
                               state.error, exc_info=logger.isEnabledFor(logging.DEBUG))
                continue
            state.rejected.pop(version, None)
            state.current = loaded  # the atomic swap: one reference assignment
            state.error = ""
            state.attempted = True
            logger.info("Now serving %s version %s (was %s)", state.name, version,
                        current.version if current else "none")
            return True
        state.attempted = True
        return False

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
            except Exception:  # noqa: BLE001 - the poller must survive anything
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
