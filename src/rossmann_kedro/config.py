"""Typed, frozen pipeline settings. Values live only in `conf/base/parameters_<pipeline>.yml`;
each pipeline declares their shape in `pipelines/<pipeline>/config.py` with models derived
from `Config`. Node arguments annotated with such a model are validated and built by Kedro when
the run starts (Kedro's typed parameters), so a typo or a wrong type stops the run with an
error naming the key, before any node runs. Models hold no defaults: YAML is the one owner."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Config(BaseModel):
    """Base of every pipeline config: immutable, unknown keys rejected, no defaults.

    Read-only mapping access (`cfg["key"]`) is kept so node code written against the YAML
    dictionaries reads the typed object unchanged; unknown keys raise KeyError."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (for pickled models and JSON metadata)."""
        return self.model_dump(mode="python")


def load_parameters(project_path: Any, env: str | None = None) -> dict[str, Any]:
    """The project's raw parameters (base + env), as `kedro run` merges them, without building a
    catalog or importing pipelines. Used by tests and tools that read settings."""
    from pathlib import Path

    from kedro.config import OmegaConfigLoader

    from rossmann_kedro.settings import CONFIG_LOADER_ARGS

    conf = Path(project_path) / "conf"
    # the project's loader arguments, so an env's parameters deep-merge into base as in a run
    loader = OmegaConfigLoader(str(conf), env=env, **CONFIG_LOADER_ARGS)
    return dict(loader["parameters"])
