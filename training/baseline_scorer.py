"""Score with a saved baseline: its model directory (meta.json + pipeline.joblib) as a Scorer.

Kept apart from training.baseline so that scoring a baseline imports scikit-learn and
joblib only, not cross-validation, datasets or the training code.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Sequence

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from training.model_dir import read_meta
from training.preprocess import PREPROCESS_VERSION, normalize_text

PIPELINE_FILE = "pipeline.joblib"


class BaselineScorer:
    """training.model_dir.Scorer over a baseline model directory."""

    kind = "baseline"

    def __init__(self, pipeline: Pipeline, tags: list[str], thresholds: np.ndarray, meta: dict[str, Any],
                 model_dir: Path | None = None):
        self.pipeline = pipeline
        self.model_dir = model_dir
        self.tags = tags
        self.thresholds = thresholds
        self.meta = meta

    @classmethod
    def load(cls, model_dir: Path | str, **_: Any) -> "BaselineScorer":
        """Load meta.json and pipeline.joblib from `model_dir`; errors name the directory.

        Raises ValueError when the model was trained with another preprocessing version, or
        when pipeline.joblib is damaged or scores another number of tags than meta.json lists.
        """
        meta = read_meta(model_dir)
        if meta["preprocess_version"] != PREPROCESS_VERSION:
            raise ValueError(f"{model_dir}: trained with preprocessing version {meta['preprocess_version']!r}, "
                             f"this code has {PREPROCESS_VERSION!r}; retrain the model")
        path = Path(model_dir) / PIPELINE_FILE
        if not path.exists():
            raise FileNotFoundError(f"{model_dir}: baseline model without {PIPELINE_FILE}")
        tags = list(meta["tags"])
        thresholds = np.array([float(meta["thresholds"][t]) for t in tags])
        pipeline = load_pipeline(path)
        classes = getattr(pipeline[-1], "classes_", None) if isinstance(pipeline, Pipeline) else None
        if classes is not None and len(classes) != len(tags):
            raise ValueError(f"{path}: the pipeline scores {len(classes)} tags but meta.json lists {len(tags)} "
                             f"({', '.join(tags)}); the model folder is inconsistent: copy it again or retrain it")
        return cls(pipeline, tags, thresholds, meta, Path(model_dir))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(tags)) probabilities; texts are normalised as in training."""
        if len(texts) == 0:
            return np.zeros((0, len(self.tags)))
        return np.asarray(self.pipeline.predict_proba([normalize_text(t) for t in texts]), dtype=float)


def load_pipeline(path: Path) -> Pipeline:
    """The pickled scikit-learn pipeline at `path`.

    Raises ValueError naming the file when it is empty, truncated or not a pickle (joblib
    says only "EOF", or raises EOFError, which the CLI would take for an aborted prompt).
    """
    try:
        return joblib.load(path)
    except (EOFError, pickle.UnpicklingError, ValueError, IndexError) as exc:
        reason = "empty file" if path.stat().st_size == 0 else f"truncated or corrupt: {str(exc) or type(exc).__name__}"
        raise ValueError(f"{path}: cannot load the baseline pipeline ({reason}); copy the model folder again "
                         "or retrain it") from None
