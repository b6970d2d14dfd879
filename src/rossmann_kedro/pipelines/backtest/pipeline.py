"""Wiring of the backtest pipeline (namespace `backtest`)."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    nodes_ = [
        node(nodes.run_backtest,
             ["model_input_origins", "sales_with_store", "stores_clean",
              "params:feature_engineering", "params:tree_model", "params:lstm_model",
              "params:backtest"],
             "backtest_raw_predictions", name="run_backtest"),
        node(nodes.select_model,
             ["backtest_raw_predictions", "params:tree_model", "params:backtest"],
             ["backtest_predictions", "backtest_selection"], name="select_model"),
        node(nodes.backtest_metrics, "backtest_predictions",
             ["backtest_metrics", "backtest_error_plot"], name="backtest_metrics"),
        node(nodes.calibrate_intervals,
             ["backtest_predictions", "params:tree_model", "params:backtest"],
             ["backtest_interval_calibration", "backtest_coverage"],
             name="calibrate_intervals"),
        node(nodes.worst_stores, ["backtest_predictions", "params:backtest"],
             "backtest_worst_stores", name="worst_stores"),
        node(nodes.backtest_summary,
             ["backtest_selection", "backtest_coverage", "backtest_predictions"],
             "backtest_summary", name="backtest_summary"),
        node(nodes.calibrate_lstm_intervals,
             ["backtest_predictions", "params:lstm_model", "params:backtest"],
             ["backtest_lstm_interval_calibration", "backtest_lstm_coverage"],
             name="calibrate_lstm_intervals"),
        node(nodes.lstm_backtest_summary,
             ["backtest_predictions", "backtest_selection", "backtest_lstm_coverage",
              "params:lstm_model"],
             "backtest_lstm_summary", name="lstm_backtest_summary"),
        node(nodes.coverage_figure, ["backtest_coverage", "backtest_lstm_summary"],
             "backtest_coverage_plot", name="coverage_figure"),
    ]
    # the candidates, the LSTM and the feature context are those the model pipelines train
    return namespaced(nodes_, "backtest", shared_parameters={
        "params:feature_engineering", "params:tree_model", "params:lstm_model"})
