"""The backtest figures in GetModelInfo: what the served model carries reaches gRPC and REST
clients field by field, including the event weights (and their absence in older models)."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict

from grpc_server.gateway import BacktestOut
from grpc_server.servicer import backtest_to_proto

SUMMARY = {
    "folds": ["2015-01-03", "2015-02-14"], "horizon_days": 42, "chosen": "blend_50",
    "mean_rmspe": 0.12, "std_rmspe": 0.02, "fold_rmspe": [0.14, 0.10], "bias_factor": 1.0,
    "intervals": {"80": {"coverage": 0.81, "mean_relative_width": 0.26,
                         "coverage_by_week": [0.8] * 6}},
    "event_weights": {"store_carnival_effect": 0.5, "store_holiday_effect": 0.25},
}


def _as_gateway(message) -> BacktestOut:
    return BacktestOut.model_validate(MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True))


def test_event_weights_reach_grpc_and_rest() -> None:
    message = backtest_to_proto(SUMMARY)
    assert dict(message.event_weights) == SUMMARY["event_weights"]
    out = _as_gateway(message)
    assert out.event_weights == SUMMARY["event_weights"] and out.chosen == "blend_50"
    assert out.intervals[0].level == 0.8


def test_a_summary_from_before_event_weights_reports_none() -> None:
    old = {k: v for k, v in SUMMARY.items() if k != "event_weights"}
    assert dict(backtest_to_proto(old).event_weights) == {}
    assert _as_gateway(backtest_to_proto(old)).event_weights == {}
