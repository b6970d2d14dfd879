"""Project hooks: cross-cutting checks that belong to no single pipeline."""

from __future__ import annotations

from typing import Any

import click
from kedro.framework.hooks import hook_impl

from rossmann_kedro.models.member_processes import close_member_pool


class MissingInputsError(click.ClickException):
    """A pipeline was asked to run before the datasets it reads exist.

    A `ClickException`, so `kedro run` prints its one-line message (``Error: ...``) and exits
    with status 1 instead of a traceback; from Python it is an ordinary exception."""

    def __init__(self, pipeline: str, missing: dict[str, str]) -> None:
        self.pipeline = pipeline
        self.missing = missing  # dataset -> the registered pipeline that produces it
        producers: dict[str, list[str]] = {}
        for name, producer in missing.items():
            producers.setdefault(producer, []).append(name)
        parts = [f"{', '.join(sorted(names))} (from {producer})"
                 for producer, names in producers.items()]
        hint = " then ".join(f"`kedro run --pipelines {p}`" for p in producers)
        super().__init__(f"cannot run {pipeline}: missing input(s) {'; '.join(parts)}. "
                         f"Run {hint} first.")


def producers_of(datasets: set[str], pipelines: dict[str, Any]) -> dict[str, str | None]:
    """Each dataset -> the registered pipeline (not `__default__`) that outputs it, ordered as
    the datasets appear in the full pipeline's run order (upstream first)."""
    named = {k: v for k, v in pipelines.items() if k != "__default__"}
    order = [n for node in sum(named.values()).nodes for n in node.outputs] if named else []
    rank = {name: i for i, name in reversed(list(enumerate(order)))}
    result = {}
    for name in sorted(datasets, key=lambda n: (rank.get(n, len(rank)), n)):
        result[name] = next((p for p, pipe in sorted(named.items())
                             if name in pipe.all_outputs()), None)
    return result


class InvalidParametersError(click.ClickException):
    """Parameters that do not fit their pipeline's typed config (printed without traceback)."""


class ParameterCheckHook:
    """Validates the typed pipeline configs as soon as the context exists, so a bad value in
    `conf/base/parameters_*.yml` stops `kedro run` with the key and the reason, not a traceback."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from kedro.validation.exceptions import ParameterValidationError

        try:
            context.params  # noqa: B018 - building them runs Kedro's typed-parameter validation
        except ParameterValidationError as exc:
            lines = [line for line in str(exc).splitlines()
                     if not line.strip().startswith("For further information visit")]
            raise InvalidParametersError("\n".join(lines)) from exc


class MissingInputsHook:
    """Stops a run whose free inputs do not exist yet, naming them and their producers.

    Pipelines talk only through catalog datasets, so `kedro run --pipelines X` works once the
    datasets X reads exist; before that this hook answers with one line instead of a traceback
    from deep inside the first node that tries to load one."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        free = {name for name in pipeline.inputs()
                if not name.startswith("params:") and name != "parameters"}
        missing = {name for name in free if not _exists(catalog, name)}
        if not missing:
            return
        # Kedro loaded only the requested pipelines; a producer may be any registered one.
        from kedro.framework.project import pipelines

        pipelines.set_requested(None)
        producers = producers_of(missing, dict(pipelines))
        # Inputs no pipeline makes (the raw files) explain themselves when loaded.
        produced = {name: p for name, p in producers.items() if p is not None}
        if produced:
            names = run_params.get("pipeline_names") or ["__default__"]
            raise MissingInputsError(", ".join(names), produced)


def _exists(catalog: Any, name: str) -> bool:
    """Whether `name` can be loaded: a dataset that is not in the catalog (an in-memory
    intermediate) cannot, since nothing in this run produces it."""
    if name not in catalog:
        return False
    try:
        return bool(catalog.exists(name))
    except Exception:
        return True


class MemberPoolHook:
    """Stops the LSTM's member processes when a run ends. They are kept between the fits of one
    run (the backtest's folds, lstm_model's two fits; `models.member_processes`), not between
    the runs of a long-lived Python session, where idle they would only hold memory."""

    @hook_impl
    def after_pipeline_run(self) -> None:
        close_member_pool()

    @hook_impl
    def on_pipeline_error(self) -> None:
        close_member_pool()
