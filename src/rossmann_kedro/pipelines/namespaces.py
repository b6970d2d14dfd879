"""The project's convention for namespaced (modular) pipelines, in one function."""

from __future__ import annotations

from collections.abc import Iterable

from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node


def namespaced(nodes: Iterable[Node], namespace: str, *,
               internal: Iterable[str] = (), shared_parameters: Iterable[str] = ()) -> Pipeline:
    """`Pipeline(nodes, namespace=..., inputs=..., outputs=..., parameters=...)` as the Kedro
    docs describe it, with the project's naming rule:

    - every free input and every output keeps its name (they are the pipeline's interface:
      datasets other pipelines and users read, declared in `catalog_<namespace>.yml`), except
      the `internal` ones, which become `<namespace>.<name>` (in-memory intermediates);
    - `params:<key>` becomes `params:<namespace>.<key>`; the whole block `params:<namespace>`
      keeps its name, and so do the `shared_parameters` (other pipelines' blocks a pipeline
      reads, e.g. the backtest reads `params:tree_model` to train the same candidates).
    Node names become `<namespace>.<name>`; Kedro-Viz draws the pipeline as one group.
    """
    base = Pipeline(list(nodes))
    internal = set(internal)
    unknown = internal - base.all_outputs()
    if unknown:
        raise ValueError(f"{namespace}: internal datasets {sorted(unknown)} are no node's output")
    free = base.inputs()
    inputs = {n for n in free if not n.startswith("params:") and n != "parameters"}
    kept = {f"params:{namespace}", *shared_parameters} & free
    return Pipeline(
        base, namespace=namespace, inputs=inputs or None,
        outputs=(base.all_outputs() - internal) or None,
        parameters=kept or None,
    )
