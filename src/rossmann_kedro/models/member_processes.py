"""Train an LSTM ensemble's member networks at the same time, one spawned process each.

Why: one small LSTM leaves a second core partly idle (two cores train one network only ~1.5x
faster than one core), so two networks trained side by side finish sooner than one after the
other: the real-data backtest's LSTM fits 12 % sooner, a fold whose two networks stop after the
same number of epochs 27 % (README; `benchmarks/bench_lstm_members.py`). The results are the
same to the bit: each child runs `lstm.fit_member` (seeded with `seed + k`) on the same arrays, and
its XLA thread pool is the parent's size (children are not pinned to a core; pinning changes
the floating-point order). Processes are spawned, not forked: JAX is not fork-safe.

The arrays go to the children as .npy files in a temporary directory (memory-mapped there), the
trained weights and epoch logs come back pickled; both are this process's own data.

The processes outlive one fit: the backtest fits the LSTM once per fold, and starting two
processes (each importing JAX and Keras) cost ~6 s a fit. The pool is kept for this process's
later fits and closed at exit, after a pipeline run (`hooks.MemberPoolHook`) or by
`close_member_pool()`; a worker whose parent dies (killed, so neither ran) exits by itself. A
worker's earlier fit leaves nothing that changes a later one: `fit_member` reseeds Keras (which
resets its global seed generator) and builds a new network.

Spawned children import the parent's main module: a script that trains (`run_pipeline`,
`train_network`) must keep its work under `if __name__ == "__main__":`, as `kedro run`, the
benchmarks and pytest do; else use `member_processes: 1`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Arrays = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]  # (inputs, y, sample weight)


def _save(arrays: Arrays, folder: Path, name: str) -> None:
    inputs, y, weight = arrays
    for key, value in inputs.items():
        np.save(folder / f"{name}.x.{key}.npy", value)
    np.save(folder / f"{name}.y.npy", y)
    np.save(folder / f"{name}.w.npy", weight)


def _load(folder: Path, name: str, keys: list[str]) -> Arrays:
    inputs = {key: np.load(folder / f"{name}.x.{key}.npy", mmap_mode="r") for key in keys}
    return (inputs, np.load(folder / f"{name}.y.npy", mmap_mode="r"),
            np.load(folder / f"{name}.w.npy", mmap_mode="r"))


def _member_job(net: dict[str, Any], cfg: dict[str, Any], k: int, label: str, folder: str,
                keys: list[str]):
    """Child process: `lstm.fit_member` on member k's arrays (it seeds as the in-process loop)."""
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("rossmann_kedro").setLevel(logging.INFO)  # the epoch log, as in-process
    from rossmann_kedro.models.lstm import fit_member

    try:
        return fit_member(net, cfg, k, _load(Path(folder), f"train{k}", keys),
                          _load(Path(folder), "held_out", keys), label)
    finally:
        _release_memory()


def _release_memory() -> None:
    """What a finished fit leaves in a kept worker: Keras' session state, JAX's compiled
    functions and the heap pages the allocator keeps (~0.9 GB on the real data otherwise)."""
    import ctypes
    import gc

    import jax
    import keras

    keras.backend.clear_session()
    jax.clear_caches()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: How often a worker checks that its parent is alive.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """Worker start-up: leave as soon as the process that started the pool is gone. A `kedro
    run` killed mid-fit (SIGKILL, or an orchestrator's timeout) runs no atexit and closes no
    pool, and its workers would otherwise train on for minutes at full CPU."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()

_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def member_pool(processes: int) -> ProcessPoolExecutor:
    """The spawned pool of `processes` workers, started on first use and reused after (a pool
    of another size is closed first)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool_size != processes:
            _close_unlocked()
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=processes,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_exit_with_parent, initargs=(os.getpid(),))
            _pool_size = processes
        return _pool


def close_member_pool() -> None:
    """Stop the worker processes (idle, they still hold their imports and some memory); the
    next fit starts new ones."""
    with _pool_lock:
        _close_unlocked()


def _close_unlocked() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


atexit.register(close_member_pool)


def fit_members_in_processes(net: dict[str, Any], cfg: dict[str, Any], trainings: list[Arrays],
                             held_out: Arrays, labels: list[str], processes: int) -> list[tuple]:
    """[(member, epoch log, held-out prediction)] for member k = 0.. trained on `trainings[k]`,
    at most `processes` at a time."""
    keys = list(held_out[0])
    with tempfile.TemporaryDirectory(prefix="lstm-members-") as tmp:
        folder = Path(tmp)
        _save(held_out, folder, "held_out")
        for k, arrays in enumerate(trainings):
            _save(arrays, folder, f"train{k}")
        logger.info("Training %d LSTM networks in %d processes at a time", len(trainings),
                    processes)
        pool = member_pool(processes)
        futures = []
        try:
            futures = [pool.submit(_member_job, net, cfg, k, labels[k], tmp, keys)
                       for k in range(len(trainings))]
            results = [f.result() for f in futures]
        except BaseException as exc:
            # the other members' jobs end here, not in the next fit's time (or its folder)
            for future in futures:
                future.cancel()
            wait(futures)
            if not isinstance(exc, BrokenProcessPool):
                raise
            close_member_pool()  # a broken pool takes no more work: the next fit starts anew
            raise RuntimeError(
                "a process training an LSTM network died (out of memory?); set "
                "lstm_model.member_processes: 1 to train the networks one after the other in "
                "this process") from exc
    return results
