"""The registry's node wrappers: pandas inputs run the pandas node unchanged, Dask inputs its
variant; every listed variant matches a registered node (a renamed node function fails here)."""

from __future__ import annotations

import importlib
import sys

import pandas as pd
import pytest

from rossmann_kedro.pipelines.data_processing import nodes as dp
from rossmann_kedro.scale.dispatch import VARIANTS, _Dispatch, is_dask, with_dask_variants


@pytest.fixture(scope="module")
def registered():
    from kedro.framework.project import configure_project, pipelines

    configure_project("rossmann_kedro")
    return dict(pipelines)


def test_every_variant_wraps_a_registered_node_and_exists(registered):
    wrapped = {(n.func.pandas_fn.__module__, n.func.pandas_fn.__name__)
               for n in registered["__default__"].nodes if isinstance(n.func, _Dispatch)}
    assert wrapped == set(VARIANTS)
    for target in VARIANTS.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_wrapped_nodes_keep_name_signature_and_docs(registered):
    node = next(n for n in registered["__default__"].nodes if n.func.__name__ == "validate_train")
    assert node.func.__doc__ == dp.validate_train.__doc__
    import inspect

    assert inspect.signature(node.func) == inspect.signature(dp.validate_train)
    assert with_dask_variants(registered["__default__"]) is registered["__default__"]
    assert node.func.pandas_fn is dp.validate_train  # not wrapped twice


def test_pandas_path_does_not_import_dask(registered):
    code = ("import sys; from kedro.framework.project import configure_project, pipelines; "
            "configure_project('rossmann_kedro'); dict(pipelines); import rossmann_kedro.settings; "
            "print('dask' in sys.modules, 'distributed' in sys.modules)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stderr[-2000:]


def test_dispatch_by_argument_type(small_raw_tables):
    import dask.dataframe as dd

    wrapped = _Dispatch(dp.fill_test_open, VARIANTS[(dp.__name__, "fill_test_open")])
    train = dp.validate_train(small_raw_tables["train"])
    test = dp.validate_test(small_raw_tables["test"])
    expected = dp.fill_test_open(test, train)
    pd.testing.assert_frame_equal(wrapped(test, train), expected)
    ddf = dd.from_pandas(train, npartitions=3)
    assert is_dask(ddf) and not is_dask(train)
    pd.testing.assert_frame_equal(wrapped(test, ddf), expected)  # reduced on Dask, same rule
