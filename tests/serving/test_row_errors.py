"""Row errors travel as `RowError(row, field, reason)`: the servicer reads the attributes and
never parses the message."""

from __future__ import annotations

import pandas as pd
import pytest

from rossmann_kedro.features import build_features
from rossmann_kedro.forecaster import RowError


def test_row_error_keeps_its_place_in_a_subset() -> None:
    err = RowError(2, "StateHoliday", "StateHoliday 'x' not in ('0', 'a', 'b', 'c')")
    assert isinstance(err, ValueError) and str(err).startswith("row 2: StateHoliday 'x'")
    assert err.renumbered([0, 4, 7]).row == 7 and err.renumbered([0, 4, 7]).field == "StateHoliday"


def test_feature_module_raises_row_errors_with_the_column(tmp_path) -> None:
    from rossmann_kedro.config import load_parameters
    from rossmann_kedro.features import FeatureContext
    from rossmann_kedro.synthetic import generate
    from rossmann_kedro.workspace import PROJECT_ROOT

    tables = generate(n_stores=4, seed=3)
    sales = tables["train"].assign(Date=lambda d: pd.to_datetime(d["Date"]),
                                   StateHoliday=lambda d: d["StateHoliday"].astype(str))
    stores = tables["store"].fillna({"PromoInterval": ""}).fillna(0)
    ctx = FeatureContext.fit(sales, stores, params=load_parameters(PROJECT_ROOT)
                             ["feature_engineering"]["context"])
    rows = sales.iloc[:3][["Store", "Date", "Promo", "StateHoliday", "SchoolHoliday"]].copy()
    rows["Promo"] = [0, 0, 5]
    with pytest.raises(RowError) as info:
        build_features(rows.reset_index(drop=True), ctx)
    assert (info.value.row, info.value.field) == (2, "Promo")


def test_serving_config_is_read_strictly_from_yaml() -> None:
    from grpc_server.server import ServingConfig
    from rossmann_kedro.config import load_parameters
    from rossmann_kedro.workspace import PROJECT_ROOT

    params = load_parameters(PROJECT_ROOT)
    config = ServingConfig.from_params(params, grace_seconds=1.5)
    assert config.max_batch_rows == params["serving"]["max_batch_rows"]
    assert config.grace_seconds == 1.5
    with pytest.raises(ValueError, match=r"unknown keys \[.max_batch_row.\], missing keys "
                                         r"\['max_batch_rows'\]"):
        serving = dict(params["serving"])
        serving["max_batch_row"] = serving.pop("max_batch_rows")
        ServingConfig.from_params({"serving": serving})
