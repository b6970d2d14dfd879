"""Which pipeline nodes have a Dask variant, and the wrapper that picks one per call.

A node's function is replaced by `_Dispatch(pandas_fn, "module:function")`: called with any Dask
collection among its arguments it imports and runs the variant, otherwise the pandas function
unchanged (Dask is not even imported on the pandas path). Name, docstring and signature stay the
pandas function's, so Kedro's input checks and Kedro-Viz show the pipelines as they are.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from kedro.pipeline import Pipeline

# pandas node (module, function) -> Dask variant "module:function" (same signature and outputs)
_DP = "rossmann_kedro.pipelines.data_processing.nodes"
_FE = "rossmann_kedro.pipelines.feature_engineering.nodes"
_TM = "rossmann_kedro.pipelines.tree_model.nodes"
_BT = "rossmann_kedro.pipelines.backtest.nodes"
_S = "rossmann_kedro.scale"
VARIANTS: dict[tuple[str, str], str] = {
    (_DP, "validate_train"): f"{_S}.data_processing:validate_train",
    (_DP, "check_store_coverage"): f"{_S}.data_processing:check_store_coverage",
    (_DP, "report_missing_values"): f"{_S}.data_processing:report_missing_values",
    (_DP, "fill_test_open"): f"{_S}.data_processing:fill_test_open",
    (_DP, "flag_sales_outliers"): f"{_S}.data_processing:flag_sales_outliers",
    (_DP, "merge_store_attributes"): f"{_S}.data_processing:merge_store_attributes",
    (_FE, "fit_validation_context"): f"{_S}.feature_engineering:fit_validation_context",
    (_FE, "fit_full_context"): f"{_S}.feature_engineering:fit_full_context",
    (_FE, "build_model_input"): f"{_S}.feature_engineering:build_model_input",
    (_FE, "build_origin_frame"): f"{_S}.feature_engineering:build_origin_frame",
    (_BT, "run_backtest"): f"{_S}.backtest:run_backtest",
    (_TM, "train_members"): f"{_S}.tree_model:train_members",
}


def is_dask(obj: Any) -> bool:
    """True for Dask collections, without importing Dask."""
    return type(obj).__module__.partition(".")[0] in ("dask", "dask_expr")


class _Dispatch:
    """Callable node function: the pandas function, or its Dask variant for Dask inputs."""

    def __init__(self, pandas_fn: Callable, variant: str) -> None:
        functools.update_wrapper(self, pandas_fn)
        self.pandas_fn = pandas_fn
        self.variant = variant

    def dask_fn(self) -> Callable:
        module, _, name = self.variant.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any(is_dask(a) for a in (*args, *kwargs.values())):
            return self.dask_fn()(*args, **kwargs)
        return self.pandas_fn(*args, **kwargs)


def with_dask_variants(pipeline: Pipeline) -> Pipeline:
    """The same pipeline, whose nodes listed in `VARIANTS` also accept Dask frames.

    Nodes are updated in place (their function only), so pipelines sharing nodes stay
    consistent; wrapping twice is a no-op.
    """
    for node in pipeline.nodes:
        fn = node.func
        if isinstance(fn, _Dispatch):
            continue
        variant = VARIANTS.get((getattr(fn, "__module__", ""), getattr(fn, "__name__", "")))
        if variant is not None:
            node.func = _Dispatch(fn, variant)
    return pipeline
