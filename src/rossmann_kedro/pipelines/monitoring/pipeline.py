"""monitoring pipeline wiring: `kedro run --pipeline monitoring` (after data_processing, with a
prediction log written by the server)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from ..namespaces import namespaced
from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    # The project's namespacing convention (Kedro's namespaced modular pipelines): node names
    # and parameters get the `monitoring.` prefix (parameters_monitoring.yml holds
    # `monitoring: {drift, accuracy}`); the inputs and the reports keep their catalog names.
    return namespaced([
        node(nodes.input_drift, ["prediction_log", "sales_clean", "params:drift"],
             ["monitoring_input_drift", "monitoring_input_drift_summary",
              "monitoring_input_drift_plot"], name="input_drift"),
        node(nodes.served_accuracy, ["prediction_log", "sales_clean", "params:accuracy"],
             ["monitoring_accuracy_by_week", "monitoring_accuracy_by_version",
              "monitoring_accuracy_by_store", "monitoring_accuracy_summary",
              "monitoring_accuracy_plot"], name="served_accuracy"),
    ], "monitoring")
