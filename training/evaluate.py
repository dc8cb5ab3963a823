"""Score a labeled set with a model: metrics with intervals, figures. Pure: no printing, no MLflow."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from training.labeled import label_matrix
from training.metrics import evaluate_predictions
from training.plots import pr_curves, tag_matrix
from training.model_dir import Scorer


def evaluate_scorer(scorer: Scorer, rows: Sequence[dict[str, Any]], n_boot: int = 1000, seed: int = 0,
                    probs: np.ndarray | None = None) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Metrics of `scorer` on labeled `rows` (validated against the scorer's tags) and figures.

    `probs`: the scorer's probabilities for `rows` when the caller already has them.
    Returns (metrics as training.metrics.evaluate_predictions, {"pr_curves.png": ...,
    "tag_matrix.png": ...}). Raises ValueError when `rows` is empty.
    """
    if not rows:
        raise ValueError("no labeled rows to evaluate")
    y = label_matrix(rows, scorer.tags)
    if probs is None:
        probs = scorer.predict_proba([r["text"] for r in rows])
    metrics = evaluate_predictions(y, probs, np.asarray(scorer.thresholds), scorer.tags, n_boot=n_boot, seed=seed)
    figures = {
        "pr_curves.png": pr_curves(y, probs, scorer.tags, np.asarray(scorer.thresholds)),
        "tag_matrix.png": tag_matrix(metrics["per_tag"]),
    }
    return metrics, figures


def slice_key(by: str) -> tuple[str, bool]:
    """`FIELD` or `FIELD:prefix` -> (field, whether to keep only the value's prefix before the first '-')."""
    field, _, mode = by.partition(":")
    if not field or mode not in ("", "prefix"):
        raise ValueError(f"--by {by!r}: expected FIELD or FIELD:prefix (e.g. kind, file, article_id:prefix)")
    return field, mode == "prefix"


def _slice_indices(rows: Sequence[dict[str, Any]], by: str) -> dict[str, list[int]]:
    field, prefix = slice_key(by)
    if not any(r.get(field) is not None for r in rows):
        raise ValueError(f"--by {by!r}: no row has a {field!r} field")
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        value = row.get(field)
        name = "(none)" if value is None else str(value)
        if prefix and value is not None:
            name = name.split("-", 1)[0]
        groups.setdefault(name, []).append(i)
    return dict(sorted(groups.items()))


def slice_rows(rows: Sequence[dict[str, Any]], by: str) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the value of a field (see slice_key); a missing value is the slice "(none)".

    Slices come sorted by name. Raises ValueError when no row has the field at all.
    """
    return {name: [rows[i] for i in idx] for name, idx in _slice_indices(rows, by).items()}


def evaluate_slices(scorer: Scorer, rows: Sequence[dict[str, Any]], by: str, n_boot: int = 1000, seed: int = 0,
                    probs: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Metrics (as evaluate_predictions) for all rows ("(all)") and for each slice of `by`.

    The texts are scored once (or `probs` is used); each slice is measured with the model's own thresholds.
    """
    groups = _slice_indices(rows, by)
    if probs is None:
        probs = scorer.predict_proba([r["text"] for r in rows])
    y = label_matrix(rows, scorer.tags)
    thresholds = np.asarray(scorer.thresholds)
    out = {"(all)": evaluate_predictions(y, probs, thresholds, scorer.tags, n_boot=n_boot, seed=seed)}
    for name, idx in groups.items():
        out[name] = evaluate_predictions(y[idx], probs[idx], thresholds, scorer.tags, n_boot=n_boot, seed=seed)
    return out
