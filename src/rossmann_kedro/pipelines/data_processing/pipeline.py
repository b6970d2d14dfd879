"""Wiring of the data_processing pipeline (namespace `data_processing`)."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes

    nodes_ = [
        node(nodes.validate_train, "raw_train", "train_validated", name="validate_train"),
        node(nodes.validate_store, "raw_store", "store_validated", name="validate_store"),
        node(nodes.validate_test, "raw_test", "test_validated", name="validate_test"),
        node(
            nodes.check_store_coverage,
            ["train_validated", "store_validated", "test_validated"],
            "data_coverage_report",
            name="check_store_coverage",
        ),
        node(
            nodes.report_missing_values,
            ["train_validated", "store_validated", "test_validated"],
            "missing_values_report",
            name="report_missing_values",
        ),
        node(nodes.fill_store_missing, ["store_validated", "params:store_fill"], "stores_clean",
             name="fill_store_missing"),
        node(nodes.fill_test_open, ["test_validated", "train_validated"], "test_clean",
             name="fill_test_open"),
        node(nodes.flag_sales_outliers, ["train_validated", "params:outliers"],
             ["sales_clean", "sales_outliers"], name="flag_sales_outliers"),
        node(nodes.summarise_outliers, ["sales_outliers", "params:outliers"], "outlier_summary",
             name="summarise_outliers"),
        node(nodes.merge_store_attributes, ["sales_clean", "stores_clean"], "sales_with_store",
             name="merge_sales_with_store"),
        node(nodes.merge_store_attributes, ["test_clean", "stores_clean"], "test_with_store",
             name="merge_test_with_store"),
    ]
    # `params:outliers` -> `params:data_processing.outliers` (parameters_data_processing.yml)
    return namespaced(nodes_, "data_processing",
                      internal={"train_validated", "store_validated", "test_validated"})
