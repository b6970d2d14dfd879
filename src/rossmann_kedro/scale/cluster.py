"""The Dask client of a run: a scheduler address (an existing cluster) or a LocalCluster sized
to the machine, from the `scale` parameters (`conf/dask/parameters_scale.yml`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleConfig:
    """The `scale:` parameters, checked."""

    address: str | None
    n_workers: int | None
    threads_per_worker: int
    memory_limit: str | int
    dashboard_address: str | None
    gather_max_rows: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ScaleConfig:
        c = params["cluster"]
        return cls(address=c["address"] or None, n_workers=c["n_workers"],
                   threads_per_worker=int(c["threads_per_worker"]),
                   memory_limit=c["memory_limit"], dashboard_address=c["dashboard_address"],
                   gather_max_rows=int(params["gather_max_rows"]))


_ACTIVE: ScaleConfig | None = None


def active_config() -> ScaleConfig:
    """The configuration of the running Dask run (set by `DaskClusterHook`)."""
    if _ACTIVE is None:
        raise RuntimeError("no Dask run is active: run with `kedro run --env dask` (the "
                           "`scale` parameters and the DaskClusterHook start the cluster)")
    return _ACTIVE


def _project_logs_at_info() -> None:
    """On a worker: the project's INFO records go to the client only (`forward_logging`), not
    also to a handler the worker may have inherited (each line would show twice)."""
    log = logging.getLogger("rossmann_kedro")
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("distributed").setLevel(logging.WARNING)  # the worker's own chatter


def start_client(config: ScaleConfig):
    """Connect to `config.address`, or start a LocalCluster of worker processes on 127.0.0.1."""
    from distributed import Client, LocalCluster

    global _ACTIVE
    # the scheduler's and workers' own INFO lines (start, stop, plugins) drown the run's log
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if config.address:
        client = Client(config.address)
        logger.info("Dask: connected to %s (%d workers)", config.address,
                    len(client.scheduler_info()["workers"]))
    else:
        n_workers = config.n_workers or max(1, (os.cpu_count() or 1) // config.threads_per_worker)
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=config.threads_per_worker,
                               processes=True, memory_limit=config.memory_limit,
                               host="127.0.0.1", dashboard_address=config.dashboard_address)
        client = Client(cluster)
        logger.info("Dask: LocalCluster of %d worker processes x %d thread(s), memory limit "
                    "%s per worker, dashboard %s", n_workers, config.threads_per_worker,
                    config.memory_limit, client.dashboard_link if config.dashboard_address
                    else "off")
    # worker-side log records of the project's nodes show up in this process's log
    client.run(_project_logs_at_info)
    client.forward_logging("rossmann_kedro", level=logging.INFO)
    _ACTIVE = config
    return client


def stop_client(client) -> None:
    """Close the client and, for a LocalCluster, its workers."""
    global _ACTIVE
    _ACTIVE = None
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
    logger.info("Dask: client closed")
