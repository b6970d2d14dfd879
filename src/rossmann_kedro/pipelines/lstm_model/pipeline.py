"""Wiring of the lstm_model pipeline."""

from kedro.pipeline import Pipeline, node


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    return Pipeline(
        [
            node(nodes.select_stores, ["sales_with_store", "params:lstm_model"], "lstm_sales",
                 name="lstm_select_stores"),
            node(nodes.stationarity_report, ["lstm_sales", "params:lstm_model"],
                 ["lstm_stationarity_tests", "lstm_acf_pacf", "lstm_acf_pacf_plot"],
                 name="lstm_stationarity_report"),
            node(nodes.train_lstm,
                 ["lstm_sales", "stores_clean", "test_clean", "params:lstm_model"],
                 ["lstm_validation_model", "lstm_training_history"], name="train_lstm"),
            node(nodes.evaluate_lstm, ["lstm_validation_model", "lstm_sales", "params:lstm_model"],
                 ["lstm_metrics", "lstm_validation_predictions"], name="evaluate_lstm"),
            node(nodes.build_forecaster,
                 ["lstm_validation_model", "lstm_sales", "stores_clean", "test_clean",
                  "lstm_metrics"],
                 "lstm_forecaster", name="build_lstm_forecaster"),
            node(nodes.predict_test, ["lstm_forecaster", "test_clean"],
                 ["lstm_submission", "lstm_test_predictions"], name="lstm_predict_test"),
            node(nodes.compare_all_models, ["backtest_selection", "lstm_metrics"],
                 ["model_comparison", "model_comparison_plot"], name="compare_all_models"),
        ]
    )
