"""What a model was trained on, kept inside its model directory, and the overlap of a labeled
file with it (the leakage check of `stance evaluate`).

`lineage.json` holds the dataset fingerprint, the split sizes and one short content key per
sentence of each split. Keys hash the normalised text, not the id: a file that re-uses training
sentences under other ids (a gold part, an export, a copy) is still caught.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Sequence

from labeling.io import atomic_open

LINEAGE_FILE = "lineage.json"
CHECKED_SPLITS = ("train", "validation")  # the splits a model has seen (weights, thresholds)


def text_key(text: str) -> str:
    """12 hex of sha256 over the case-folded, whitespace-collapsed text."""
    norm = re.sub(r"\s+", " ", text).strip().casefold()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:12]


def write_lineage(model_dir: Path, meta: dict[str, Any], splits: dict[str, Sequence[dict[str, Any]]]) -> Path:
    """Record the dataset a model in `model_dir` was trained on (atomically) and return the file."""
    record = {
        "fingerprint": meta.get("fingerprint"),
        "source": meta.get("source"),
        "sizes": {name: len(rows) for name, rows in splits.items()},
        "keys": {name: sorted({text_key(r["text"]) for r in rows}) for name, rows in splits.items()},
    }
    path = Path(model_dir) / LINEAGE_FILE
    with atomic_open(path) as fh:
        json.dump(record, fh)
    return path


def read_lineage(model_dir: Path | str | None) -> dict[str, Any] | None:
    """The lineage record of a model directory; None when the model predates it or has no directory."""
    if model_dir is None:
        return None
    path = Path(model_dir) / LINEAGE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def overlap(lineage: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Indices of `rows` whose text the model saw, per split it saw (train, validation)."""
    seen = {name: set(lineage["keys"].get(name, ())) for name in CHECKED_SPLITS}
    found: dict[str, list[int]] = {name: [] for name in CHECKED_SPLITS}
    for i, row in enumerate(rows):
        key = text_key(row["text"])
        for name in CHECKED_SPLITS:
            if key in seen[name]:
                found[name].append(i)
                break
    return found
