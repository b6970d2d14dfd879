"""Wiring of the lstm_model pipeline (namespace `lstm_model`). It reads feature_engineering's
contexts (the validation window and the features are the ones the tree models use), the
backtest's figures for the LSTM (reported by the served model) and nothing from tree_model."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    cfg = "params:lstm_model"
    nodes_ = [
        node(nodes.select_stores, ["sales_with_store", cfg], "lstm_sales", name="select_stores"),
        node(nodes.stationarity_report, ["lstm_sales", "feature_context_validation", cfg],
             ["lstm_stationarity_tests", "lstm_acf_pacf", "lstm_acf_pacf_plot"],
             name="stationarity_report"),
        node(nodes.train_lstm, ["lstm_sales", "feature_context_validation", cfg],
             "lstm_validation_model", name="train_lstm"),
        node(nodes.evaluate_lstm, ["lstm_validation_model", "lstm_sales"],
             ["lstm_metrics", "lstm_validation_predictions"], name="evaluate_lstm"),
        node(nodes.train_lstm, ["lstm_sales", "feature_context", cfg],
             "lstm_served_model", name="train_served_lstm"),
        node(nodes.training_history, ["lstm_validation_model", "lstm_served_model"],
             "lstm_training_history", name="training_history"),
        node(nodes.build_forecaster,
             ["lstm_served_model", "lstm_metrics", "backtest_lstm_summary",
              "backtest_lstm_interval_calibration"],
             "lstm_forecaster", name="build_forecaster"),
        node(nodes.predict_test, ["lstm_forecaster", "test_clean"],
             ["lstm_submission", "lstm_test_predictions"], name="predict_test"),
    ]
    return namespaced(nodes_, "lstm_model", internal={"lstm_sales", "lstm_validation_model",
                                                    "lstm_served_model"})
