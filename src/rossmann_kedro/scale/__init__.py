"""Scale-out on Dask: the same pipelines, on partitioned data and a Dask cluster.

`kedro run --env dask` swaps the large tables (train and everything derived from it) to Dask
datasets (`conf/dask/`). The pipelines stay the ones in `pipelines/`: the registry wraps the
nodes that touch those tables with `dispatch.with_dask_variants`, so a node called with a Dask
DataFrame runs its Dask variant and with pandas runs exactly the pandas function. Every variant
calls the pandas node itself per partition (each partition holds whole stores) or on a small
gathered table, so feature and cleaning logic lives in one place. The origin frame and the
backtest hold a seeded sample of stores (`feature_engineering.origins.max_stores` in conf/dask),
so the driver stays bounded however large the chain.

Modules: `dispatch` (which node has which variant), `frames` (partition helpers),
`data_processing` / `feature_engineering` / `tree_model` (the variants), `xgb` (xgboost.dask
training into the served sklearn Pipeline), `cluster` and `hooks` (the Dask client for a run),
`datasets` (raw tables as Dask frames, partitioned by store).
"""

from .dispatch import with_dask_variants

__all__ = ["with_dask_variants"]
