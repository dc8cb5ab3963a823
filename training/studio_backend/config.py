"""Typed settings of the ML backend's learning loop and queue (`configs/backend.yaml`).

Defaults live here; the YAML overrides only what differs (labeling.config.load_config).
The tracking store, experiment and registered-model name fall back to the project's
(configs/tracking.yaml, MLFLOW_TRACKING_URI), so a retrain lands where `stance train
baseline` puts its runs.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from labeling.config import CONFIG_DIR, DEFAULT_SEED, StrictModel, load_config
from labeling.studio.tasks import STRATEGIES

DEFAULT_BACKEND_CONFIG = CONFIG_DIR / "backend.yaml"


class BackendConfig(StrictModel):
    """When the backend retrains, how it decides to switch, and how it re-ranks the queue."""

    # retraining
    min_new_annotations: int = Field(20, ge=1)
    cv_folds: int = Field(3, ge=2)
    seed: int = DEFAULT_SEED
    max_drop: float = Field(0.0, ge=0.0, le=1.0)
    baseline_config: str | None = None
    register_as: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    # the queue
    rescore_batch_size: int = Field(200, ge=1)
    queue_strategy: str = "uncertainty"
    queue_batch: int = Field(50, ge=1)
    uncertainty_sampling: bool = True

    @field_validator("queue_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; use one of {', '.join(STRATEGIES)}")
        return value


def load_backend_config(path: Path | str | None = None, **overrides) -> BackendConfig:
    """Defaults, then `configs/backend.yaml` (or `path`, which must exist), then non-None overrides.

    Raises labeling.config.ConfigError naming the file and key on unknown keys or bad values.
    """
    return load_config(BackendConfig, path, overrides, default=DEFAULT_BACKEND_CONFIG)
