"""Batch-scoring outputs shared by every model pipeline, so their files have one format:
the Kaggle submission (Id, Sales) and the predictions table with intervals."""

from __future__ import annotations

import logging
import time

import pandas as pd

logger = logging.getLogger(__name__)


def scoring_outputs(rows: pd.DataFrame, pred: pd.DataFrame, started: float,
                    label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(submission, predictions) from test rows and a forecaster's Sales/lower/upper for them."""
    predictions = pd.concat([rows[["Id", "Store", "Date", "Open"]].reset_index(drop=True),
                             pred.reset_index(drop=True)], axis=1)
    submission = predictions[["Id", "Sales"]].sort_values("Id").reset_index(drop=True)
    open_days = predictions["Open"] == 1
    logger.info("%s scored %d test rows (%d open) in %.2fs; mean open-day Sales %.0f", label,
                len(predictions), int(open_days.sum()), time.perf_counter() - started,
                predictions.loc[open_days, "Sales"].mean())
    return submission, predictions
