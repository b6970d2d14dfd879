"""Wiring of the feature_engineering pipeline (namespace `feature_engineering`)."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    inputs = ["sales_with_store", "stores_clean", "test_clean", "params:feature_engineering"]
    nodes_ = [
        node(nodes.fit_validation_context, inputs, "feature_context_validation",
             name="fit_validation_context"),
        node(nodes.fit_full_context, inputs, "feature_context", name="fit_full_context"),
        node(nodes.build_model_input,
             ["sales_with_store", "feature_context_validation", "params:feature_engineering"],
             "model_input_validation", name="build_model_input_validation"),
        node(nodes.build_model_input,
             ["sales_with_store", "feature_context", "params:feature_engineering"],
             "model_input_full", name="build_model_input_full"),
        node(nodes.build_origin_frame,
             ["sales_with_store", "stores_clean", "params:feature_engineering"],
             "model_input_origins", name="build_origin_frame"),
        node(nodes.build_test_features, ["test_clean", "feature_context"], "test_features",
             name="build_test_features"),
    ]
    # The nodes take the pipeline's whole typed config, `params:feature_engineering`.
    return namespaced(nodes_, "feature_engineering")
