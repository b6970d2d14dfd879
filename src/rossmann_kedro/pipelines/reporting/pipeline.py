"""Wiring of the reporting pipeline (namespace `reporting`): runs after the model pipelines."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    nodes_ = [
        node(nodes.compare_all_models, ["backtest_selection", "lstm_metrics"],
             ["model_comparison", "model_comparison_plot"], name="compare_all_models"),
    ]
    return namespaced(nodes_, "reporting")
