"""Per-tag decision thresholds tuned on validation data."""
from __future__ import annotations

import numpy as np

DEFAULT_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp = float(np.sum(y_true & y_pred))
    fp = float(np.sum(~y_true & y_pred))
    fn = float(np.sum(y_true & ~y_pred))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def tune_thresholds(y_true: np.ndarray, probs: np.ndarray, grid: np.ndarray = DEFAULT_GRID) -> np.ndarray:
    """For each tag (column), the threshold in `grid` that maximises F1 on (y_true, probs).

    Ties go to the threshold closest to 0.5, so a tag with no positives keeps 0.5.
    Inputs: y_true (n, k) of 0/1, probs (n, k) in [0, 1]. Returns an array of k floats.
    """
    y_true = np.asarray(y_true).astype(bool)
    probs = np.asarray(probs, dtype=float)
    if y_true.shape != probs.shape:
        raise ValueError(f"y_true has shape {y_true.shape}, probs {probs.shape}")
    best = np.full(probs.shape[1], 0.5)
    for j in range(probs.shape[1]):
        scores = [(_f1(y_true[:, j], probs[:, j] >= t), -abs(t - 0.5), t) for t in grid]
        f1, _, t = max(scores)
        if f1 > 0:
            best[j] = t
    return best


def apply_thresholds(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Boolean (n, k) decisions: probability at or above the tag's threshold."""
    return np.asarray(probs) >= np.asarray(thresholds)[None, :]
