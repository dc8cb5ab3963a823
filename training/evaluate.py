"""Score a labeled set with a model: metrics with intervals, figures. Pure: no printing, no MLflow."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from training.labeled import label_matrix
from training.metrics import evaluate_predictions
from training.plots import pr_curves, tag_matrix
from training.model_dir import Scorer


def evaluate_scorer(scorer: Scorer, rows: Sequence[dict[str, Any]], n_boot: int = 1000, seed: int = 0
                    ) -> tuple[dict[str, Any], dict[str, Figure]]:
    """Metrics of `scorer` on labeled `rows` (validated against the scorer's tags) and figures.

    Returns (metrics as training.metrics.evaluate_predictions, {"pr_curves.png": ...,
    "tag_matrix.png": ...}). Raises ValueError when `rows` is empty.
    """
    if not rows:
        raise ValueError("no labeled rows to evaluate")
    y = label_matrix(rows, scorer.tags)
    probs = scorer.predict_proba([r["text"] for r in rows])
    metrics = evaluate_predictions(y, probs, np.asarray(scorer.thresholds), scorer.tags, n_boot=n_boot, seed=seed)
    figures = {
        "pr_curves.png": pr_curves(y, probs, scorer.tags, np.asarray(scorer.thresholds)),
        "tag_matrix.png": tag_matrix(metrics["per_tag"]),
    }
    return metrics, figures
