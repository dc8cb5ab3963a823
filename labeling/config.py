"""Typed configuration: one pydantic model per command, loaded from configs/*.yaml.

Each component owns its defaults (the model's field defaults); a YAML file overrides
only what differs, and CLI flags override the YAML. Unknown keys and bad values fail
with a message that names the key and the file; a config file the user names must exist.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def config_dir(root: Path, cwd: Path) -> Path:
    """configs/ of the source checkout at `root`; an installed package (root = site-packages,
    no configs/ there, e.g. the driver under spark-submit) reads configs/ in the working folder `cwd`."""
    return root / "configs" if (root / "configs").is_dir() else cwd / "configs"


CONFIG_DIR = config_dir(PROJECT_ROOT, Path.cwd())

T = TypeVar("T", bound="StrictModel")

# The seed of every seeded step (splits, folds, model training) when its config sets none.
DEFAULT_SEED = 13


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


class StrictModel(BaseModel):
    """Base for config objects: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _describe(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{source}: {key}: {msg}")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping (an empty file reads as {}).

    Raises ConfigError when the file does not exist, is not valid YAML or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(cls: type[T], path: Path | str | None = None, overrides: dict[str, Any] | None = None,
                default: Path | str | None = None) -> T:
    """Build `cls` from its defaults, then a YAML file, then `overrides`.

    The YAML file is `path` (a file the user named: it must exist), else `default` (the
    project's configs/<command>.yaml) when that file is there: an installed package
    without the project's configs/ folder runs on the built-in defaults.
    Overrides whose value is None are ignored, so unset CLI flags keep the YAML value.
    Raises ConfigError naming the file and key on a missing `path`, unknown keys or bad values.
    """
    if path is None and default is not None and Path(default).is_file():
        path = default
    source = str(path) if path is not None else cls.__name__
    data = read_yaml(Path(path)) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
