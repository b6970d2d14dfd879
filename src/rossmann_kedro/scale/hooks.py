"""Kedro hook: a Dask client for the duration of a run whose parameters have `scale:` (the
`dask` environment); a no-op otherwise."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from .cluster import ScaleConfig, start_client, stop_client

logger = logging.getLogger(__name__)


class DaskClusterHook:
    def __init__(self) -> None:
        self._config: ScaleConfig | None = None
        self._client = None

    @hook_impl
    def after_context_created(self, context) -> None:
        params = context.params.get("scale")
        self._config = ScaleConfig.from_params(params) if params else None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._config is not None:
            self._client = start_client(self._config)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._close()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline,
                          catalog) -> None:
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            stop_client(client)
