"""Is a retrained baseline at least as good as the model serving now? Both scored on the same
grouped folds of the same snapshot.

The serving model is fixed (it may be the fine-tuned champion, or a baseline trained on an
earlier snapshot), so it cannot be cross-validated; the candidate recipe can. For each of the
K grouped folds (training.cv.grouped_kfold: near-duplicates and articles never straddle a
fold), a baseline is trained on the other folds (training.fit.fit, thresholds tuned on a
grouped 20% of them, as `stance train baseline --cv` does) and both models score the held-out
fold. Rows the serving model was trained or tuned on (its lineage.json) are left out of every
held-out fold: scored on its own training sentences it would look far better than it is and
no retrain would ever be served. A serving model without lineage.json is scored on every row,
which favours keeping it (said in the result). The out-of-fold decisions are pooled over the
folds before macro-F1 is computed: folds of a few dozen sentences give noisy per-fold scores.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from labeling.config import StrictModel
from training.cv import check_cv_possible, grouped_kfold
from training.fit import fit, inner_split
from training.labeled import label_matrix
from training.lineage import overlap, read_lineage
from training.metrics import micro_macro_f1
from training.model_dir import Scorer
from training.scoring import load_scorer
from training.thresholds import apply_thresholds


class NothingToCompare(ValueError):
    """The snapshot holds no annotated sentence the serving model has not seen."""


@dataclass(frozen=True)
class Comparison:
    """Pooled out-of-fold macro-F1 of the retrained recipe and of the serving model on the same rows.

    rows: how many rows were scored; folds: how many folds held at least one of them;
    lineage: whether the serving model's training rows were known (and left out).
    """

    candidate: float
    serving: float
    rows: int
    folds: int
    lineage: bool


def unseen_rows(scorer: Any, rows: Sequence[dict[str, Any]]) -> tuple[set[int], bool]:
    """Indices of `rows` the scorer's model was neither trained nor tuned on, and whether its
    lineage.json was there to tell (without it every index is returned)."""
    lineage = read_lineage(getattr(scorer, "model_dir", None))
    if lineage is None:
        return set(range(len(rows))), False
    seen = overlap(lineage, rows)
    return set(range(len(rows))) - set(seen["train"]) - set(seen["validation"]), True


def check_comparable(rows: Sequence[dict[str, Any]], tags: Sequence[str], serving: Any, k: int) -> tuple[set[int], bool]:
    """Check, before anything is trained, that compare_on_folds can run; returns unseen_rows(serving, rows).

    Raises CVError when a tag has fewer than k examples or there are fewer than k groups, and
    NothingToCompare when every row was seen by the serving model.
    """
    check_cv_possible(rows, tags, k)
    keep, known = unseen_rows(serving, rows)
    if not keep:
        raise NothingToCompare(f"all {len(rows)} annotated sentences were in the serving model's training or "
                               "validation data: nothing to compare on")
    return keep, known


def _decisions(scorer: Scorer, texts: list[str]) -> np.ndarray:
    return apply_thresholds(np.asarray(scorer.predict_proba(texts)), np.asarray(scorer.thresholds))


def compare_on_folds(rows: Sequence[dict[str, Any]], tags: Sequence[str], serving: Scorer, cfg: StrictModel,
                     k: int, seed: int) -> Comparison:
    """Grouped K-fold of the baseline recipe `cfg` against the fixed `serving` scorer (see module doc).

    Raises CVError when a tag has fewer than k examples or there are fewer than k groups, and
    NothingToCompare when every row was seen by the serving model.
    """
    rows = list(rows)
    keep, known = check_comparable(rows, tags, serving, k)
    truth, candidate, current, folds = [], [], [], 0
    for fold, (train_idx, test_idx) in enumerate(grouped_kfold(rows, tags, k, seed)):
        held = [rows[i] for i in test_idx if i in keep]
        if not held:
            continue
        inner_train, inner_val = inner_split([rows[i] for i in train_idx], tags, seed + fold)
        texts = [r["text"] for r in held]
        with tempfile.TemporaryDirectory(prefix="stance-compare-") as tmp:
            result = fit("baseline", inner_train, inner_val, tags, cfg, Path(tmp) / "model")
            candidate.append(_decisions(load_scorer(result.model_dir), texts))
        current.append(_decisions(serving, texts))
        truth.append(label_matrix(held, tags))
        folds += 1
    y = np.vstack(truth)
    # both models are scored on the same rows, so on the same tags: a tag those rows neither hold nor get from
    # either model is left out of both means (training.metrics.macro_from_counts); one a model wrongly gives
    # counts against that model only
    return Comparison(candidate=micro_macro_f1(y, np.vstack(candidate))[1],
                      serving=micro_macro_f1(y, np.vstack(current))[1], rows=len(y), folds=folds, lineage=known)
