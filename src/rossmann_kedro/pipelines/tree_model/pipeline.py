"""Wiring of the tree_model pipeline (namespace `tree_model`; after feature_engineering and
backtest)."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    nodes_ = [
        node(nodes.train_members,
             ["model_input_origins", "model_input_full", "backtest_selection",
              "params:tree_model"],
             "tree_members", name="train_members"),
        node(nodes.build_forecaster,
             ["tree_members", "feature_context", "backtest_selection",
              "backtest_interval_calibration", "backtest_summary"],
             "tree_forecaster", name="build_forecaster"),
        node(nodes.feature_importance, "tree_forecaster",
             ["tree_feature_importance", "tree_feature_importance_plot"],
             name="feature_importance"),
        node(nodes.model_metrics,
             ["backtest_summary", "backtest_selection", "tree_forecaster"],
             "tree_model_metrics", name="model_metrics"),
        node(nodes.predict_test, ["tree_forecaster", "test_clean"],
             ["tree_submission", "tree_test_predictions"], name="predict_test"),
    ]
    return namespaced(nodes_, "tree_model", internal={"tree_members"})
