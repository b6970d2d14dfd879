"""Wiring of the tree_model pipeline."""

from kedro.pipeline import Pipeline, node


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    p = "params:tree_model"
    return Pipeline(
        [
            node(nodes.train_random_forest, ["model_input_validation", p],
                 ["tree_random_forest_validation", "tree_random_forest_info"],
                 name="train_random_forest"),
            node(nodes.train_xgboost, ["model_input_validation", p],
                 ["tree_xgboost_validation", "tree_xgboost_info"], name="train_xgboost"),
            node(nodes.predict_validation,
                 ["model_input_validation", "tree_random_forest_validation",
                  "tree_xgboost_validation", p],
                 "tree_validation_predictions", name="predict_validation"),
            node(nodes.compare_losses, ["model_input_validation", p], "tree_loss_comparison",
                 name="compare_losses"),
            node(nodes.choose_model, ["tree_validation_predictions", p], "tree_chosen_model",
                 name="choose_model"),
            node(nodes.calibrate_intervals, ["tree_validation_predictions", "tree_chosen_model", p],
                 ["tree_interval_calibration", "tree_interval_report"],
                 name="calibrate_intervals"),
            node(nodes.compare_models,
                 ["tree_validation_predictions", "tree_random_forest_info", "tree_xgboost_info",
                  "tree_loss_comparison", "tree_interval_report", "tree_chosen_model"],
                 ["tree_model_metrics", "tree_model_comparison_plot"], name="compare_models"),
            node(nodes.feature_importance,
                 ["tree_xgboost_validation", "model_input_validation", p],
                 ["tree_feature_importance", "tree_feature_importance_plot"],
                 name="feature_importance"),
            node(nodes.refit_model,
                 ["model_input_full", "tree_random_forest_validation", "tree_xgboost_validation",
                  "tree_chosen_model", p],
                 "tree_final_model", name="refit_model"),
            node(nodes.build_forecaster,
                 ["tree_final_model", "feature_context", "feature_context_validation",
                  "tree_interval_calibration", "tree_model_metrics", "tree_chosen_model", p],
                 "tree_forecaster", name="build_forecaster"),
            node(nodes.predict_test, ["tree_forecaster", "test_clean"],
                 ["tree_submission", "tree_test_predictions"], name="predict_test"),
        ]
    )
