"""The model-directory contract that both model kinds, the predictor and Label Studio share.

A *model directory* holds `meta.json` (kind, tags, thresholds, preprocessing version)
plus the kind's own files. This module holds the contract only: the file name, how
meta.json is read, the `Scorer` interface every model kind implements, and the shared
output frame. training.scoring.load_scorer turns a directory into a Scorer.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from training.thresholds import apply_thresholds

META_FILE = "meta.json"


class Scorer(Protocol):
    """Per-tag probabilities for raw sentence texts."""

    kind: str
    tags: list[str]
    thresholds: np.ndarray
    model_dir: Path | None  # where it was loaded from (lineage.json lives there)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(tags)) float array of probabilities in [0, 1]."""
        ...


def read_meta(model_dir: Path | str) -> dict:
    """Read a model directory's meta.json; errors name the directory."""
    path = Path(model_dir) / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{model_dir}: not a stance model directory (no {META_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); the model "
                         "folder is damaged: copy it again") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8; the model folder is damaged: copy it again") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("kind", "tags", "thresholds", "preprocess_version"):
        if key not in meta:
            raise ValueError(f"{path}: missing key {key!r}")
    tags, thresholds = meta["tags"], meta["thresholds"]
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"{path}: 'tags' should be a non-empty list of tag names, got {tags!r}")
    missing = [t for t in tags if not isinstance(thresholds, dict) or not isinstance(thresholds.get(t), (int, float))]
    if missing:
        raise ValueError(f"{path}: 'thresholds' has no number for {', '.join(missing)}")
    return meta


def content_fingerprint(model_dir: Path | str) -> str:
    """A fingerprint of what a model directory holds: sha256 over each file's relative path and
    bytes, in path order (meta.json, the weights, the tokenizer, ...), never its location.

    The same folder given as a relative or an absolute path has the same fingerprint; a model
    replaced at the same path has another. Raises OSError naming a file that cannot be read.
    """
    root = Path(model_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return "sha256:" + digest.hexdigest()[:16]


def output_frame(tags: Sequence[str], thresholds: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """The shared output: one float column per tag (schema order) and a `labels` list column."""
    probs = np.asarray(probs, dtype=float)
    frame = pd.DataFrame(probs, columns=list(tags))
    decided = apply_thresholds(probs, thresholds)
    frame["labels"] = [[t for t, on in zip(tags, row) if on] for row in decided]
    return frame
