"""What a training function returns: data, not prints (the tracking module logs it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    """The outcome of training one model.

    model_dir: a model directory (docs/architecture.md) with meta.json and thresholds.
    history: one dict per epoch (e.g. epoch, train_loss, val_loss, val_macro_f1).
    params: the hyper-parameters actually used (e.g. the C chosen by cross-validation).
    train_seconds: wall time of the fit; sentences_per_second: training throughput.
    """

    model_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    sentences_per_second: float = 0.0
