"""Find likely labeling mistakes: out-of-fold baseline probabilities into cleanlab.

Each sentence is scored by a baseline that never saw it (grouped K-fold, so near-duplicate
quotes stay in one fold), and cleanlab's multi-label issue finder ranks sentences whose
given tags disagree most with those probabilities.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank

from training.baseline import BaselineConfig, build_pipeline
from training.cv import check_cv_possible, grouped_kfold
from training.labeled import label_matrix
from training.preprocess import normalize_text


def out_of_fold_probs(rows: Sequence[dict[str, Any]], tags: Sequence[str], k: int, cfg: BaselineConfig,
                      on_fold: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, len(tags)) probabilities, each row from a baseline trained on the other folds.

    Raises CVError when a tag has fewer than k examples or there are fewer than k groups.
    """
    check_cv_possible(rows, tags, k)
    y = label_matrix(rows, tags)
    texts = [normalize_text(r["text"]) for r in rows]
    probs = np.zeros(y.shape, dtype=float)
    for fold, (train_idx, test_idx) in enumerate(grouped_kfold(rows, tags, k, cfg.seed)):
        pipeline = build_pipeline(cfg, cfg.default_c)
        pipeline.fit([texts[i] for i in train_idx], y[train_idx])
        probs[test_idx] = np.asarray(pipeline.predict_proba([texts[i] for i in test_idx]), dtype=float)
        if on_fold is not None:
            on_fold(fold)
    return probs


def rank_issues(rows: Sequence[dict[str, Any]], tags: Sequence[str], probs: np.ndarray,
                suspect_at: float = 0.5) -> list[dict[str, Any]]:
    """Sentences ranked from most to least likely mislabeled.

    Each item: id, text, given (tags), suspected (tags the model would set or drop: a
    tag is suspected when its out-of-fold probability disagrees with the given label at
    `suspect_at`), score (cleanlab label quality, lower = more suspicious) and
    flagged (cleanlab's issue filter marks it).
    """
    y = label_matrix(rows, tags)
    labels = [list(np.flatnonzero(row)) for row in y]
    quality = cl_rank.get_label_quality_scores(labels, probs)
    flagged = cl_filter.find_label_issues(labels, probs)
    items = []
    for i in np.argsort(quality, kind="stable"):
        predicted = probs[i] >= suspect_at
        items.append({
            "id": rows[i]["id"], "text": rows[i]["text"],
            "given": [t for t, on in zip(tags, y[i]) if on],
            "suspected": [t for t, on in zip(tags, predicted) if on],
            "add": [t for t, g, p in zip(tags, y[i], predicted) if p and not g],
            "drop": [t for t, g, p in zip(tags, y[i], predicted) if g and not p],
            "score": round(float(quality[i]), 4),
            "flagged": bool(flagged[i]),
        })
    return items
