"""Grouped, multi-label-stratified K-fold: folds, and mean / spread of metrics across folds.

For small datasets, where one train/test split is noise. Clusters (shared group or
article) never cross folds (training.dataset.cluster_ids).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from labeling.config import DEFAULT_SEED
from training.dataset import cluster_ids, stratified_cluster_assign
from training.labeled import label_matrix


class CVError(ValueError):
    """K-fold is impossible on this data (too few examples of a tag, or too few groups)."""


def check_cv_possible(rows: Sequence[dict[str, Any]], tags: Sequence[str], k: int) -> None:
    """Raise CVError when k < 2, a tag has fewer than k examples, or there are fewer than k clusters."""
    if k < 2:
        raise CVError(f"--cv needs K >= 2, got {k}")
    counts = label_matrix(rows, tags).sum(axis=0)
    few = [f"{t} ({int(c)})" for t, c in zip(tags, counts) if c < k]
    if few:
        raise CVError(f"{k}-fold cross-validation needs at least {k} examples of every tag; "
                      f"too few: {', '.join(few)}")
    n_clusters = int(cluster_ids(rows).max()) + 1
    if n_clusters < k:
        raise CVError(f"{k}-fold cross-validation needs at least {k} groups, the data has {n_clusters}")


def grouped_kfold(rows: Sequence[dict[str, Any]], tags: Sequence[str], k: int, seed: int = DEFAULT_SEED
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train_idx, test_idx) pairs; clusters kept whole, tags spread evenly over folds."""
    y = label_matrix(rows, tags)
    fold = stratified_cluster_assign(y, cluster_ids(rows), [1.0 / k] * k, seed)
    idx = np.arange(len(rows))
    return [(idx[fold != f], idx[fold == f]) for f in range(k)]


def summarize_folds(fold_metrics: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std", "min", "max"}} over folds (metrics missing in a fold are skipped there)."""
    names = sorted({name for m in fold_metrics for name in m})
    summary = {}
    for name in names:
        values = np.array([m[name] for m in fold_metrics if name in m], dtype=float)
        summary[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                         "min": float(values.min()), "max": float(values.max())}
    return summary


def cross_validate(rows: Sequence[dict[str, Any]], tags: Sequence[str], k: int, seed: int,
                   run_fold: Callable[[int, list[dict], list[dict]], dict[str, float]],
                   on_fold: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Run `run_fold(fold, train_rows, test_rows) -> flat metrics` on each grouped fold.

    Checks first (CVError) that every tag has at least k examples. Returns
    {"k", "folds": [flat metrics per fold], "summary": summarize_folds(...)}.
    """
    check_cv_possible(rows, tags, k)
    folds = []
    for f, (train_idx, test_idx) in enumerate(grouped_kfold(rows, tags, k, seed)):
        metrics = run_fold(f, [rows[i] for i in train_idx], [rows[i] for i in test_idx])
        folds.append(metrics)
        if on_fold is not None:
            on_fold(f, metrics)
    return {"k": k, "folds": folds, "summary": summarize_folds(folds)}
