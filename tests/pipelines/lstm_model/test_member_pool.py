"""The LSTM's member processes are kept between fits: a reused worker trains the same networks
as a new one, a broken pool gives a clear error and is replaced, and a run's end stops them."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from rossmann_kedro.models import member_processes

pytestmark = pytest.mark.slow


def _assert_same_networks(a, b) -> None:
    assert len(a.members) == len(b.members) == 2
    for mine, theirs in zip(a.members, b.members, strict=True):
        for x, y in zip(mine.weights, theirs.weights, strict=True):
            np.testing.assert_array_equal(x, y)
    assert a.training["best_epoch"] == b.training["best_epoch"]


def test_workers_that_trained_before_train_the_same_networks(planted, tiny_forecaster) -> None:
    """Two fits in one pool: the second runs in workers that already trained a network (the
    backtest's second fold), and both equal the fixture's networks to the bit."""
    from rossmann_kedro.models.lstm import train_network

    from .conftest import tiny_config

    sales, _, test = planted
    model, _ = tiny_forecaster
    pool = member_processes.member_pool(2)
    first = train_network(sales, model.context, tiny_config(), member_processes=2)
    assert member_processes.member_pool(2) is pool
    workers = set(pool._processes)
    again = train_network(sales, model.context, tiny_config(), member_processes=2)
    assert member_processes.member_pool(2) is pool and set(pool._processes) == workers
    _assert_same_networks(first, model)
    _assert_same_networks(again, model)
    rows = test.assign(Date=test["Date"] - pd.Timedelta(days=28))
    pd.testing.assert_frame_equal(again.predict(rows), model.predict(rows))


def test_a_broken_pool_is_a_clear_error_and_the_next_fit_starts_new_workers(
        planted, tiny_forecaster) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from rossmann_kedro.models.lstm import train_network

    from .conftest import tiny_config

    sales, _, _ = planted
    model, _ = tiny_forecaster
    broken = member_processes.member_pool(2)
    with pytest.raises(BrokenProcessPool):
        broken.submit(os._exit, 1).result()   # a worker dies, as one killed for memory would
    with pytest.raises(RuntimeError, match="member_processes: 1"):
        train_network(sales, model.context, tiny_config(), member_processes=2)
    assert member_processes.member_pool(2) is not broken
    _assert_same_networks(
        train_network(sales, model.context, tiny_config(), member_processes=2), model)


def test_the_end_of_a_run_stops_the_workers() -> None:
    from rossmann_kedro.hooks import MemberPoolHook

    pool = member_processes.member_pool(2)
    pool.submit(int, 1).result()   # the workers exist
    workers = list(pool._processes.values())
    MemberPoolHook().after_pipeline_run()
    assert member_processes._pool is None
    assert all(not w.is_alive() for w in workers)
    assert member_processes.member_pool(2) is not pool   # a later fit starts anew
    member_processes.close_member_pool()


def test_a_pool_of_another_size_replaces_the_kept_one() -> None:
    one = member_processes.member_pool(1)
    one.submit(int, 1).result()
    workers = list(one._processes.values())
    two = member_processes.member_pool(2)
    assert two is not one and member_processes.member_pool(2) is two
    assert all(not w.is_alive() for w in workers)
    member_processes.close_member_pool()


def test_a_failing_fit_raises_its_error_once_every_member_job_has_ended() -> None:
    """An error inside a member's fit reaches the caller as itself, after the other members'
    jobs ended (none is left running into the next fit), and the kept pool stays usable."""
    arrays = ({"window": np.zeros((4, 3), np.float32)}, np.zeros((4, 1), np.float32),
              np.ones(4, np.float32))
    pool = member_processes.member_pool(2)
    with pytest.raises(ValueError, match="not a seed"):
        member_processes.fit_members_in_processes({}, {"seed": "not a seed"}, [arrays] * 3,
                                                  arrays, ["a", "b", "c"], 2)
    assert member_processes.member_pool(2) is pool
    assert pool.submit(int, "7").result() == 7   # queued after them: all earlier jobs are gone
    assert not pool._pending_work_items
    member_processes.close_member_pool()


_ORPHAN_SCRIPT = """
import time
from rossmann_kedro.models.member_processes import member_pool

if __name__ == "__main__":
    pool = member_pool(1)
    pool.submit(time.sleep, 300)   # a worker busy with a long job
    while not pool._processes:
        time.sleep(0.05)
    print(*pool._processes, flush=True)
    time.sleep(300)
"""


def test_workers_exit_when_the_run_that_started_them_is_killed(tmp_path) -> None:
    """A run killed mid-fit (SIGKILL: no atexit, no hook) must not leave its workers training:
    they notice the parent is gone and exit."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    try:
        assert workers and all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 60   # the watch polls every 0.5 s; a busy machine is slow
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
