"""Multi-label metrics: per-tag P/R/F1/PR-AUC, micro/macro F1, bootstrap intervals, confusion counts.

Everything returns plain dicts of floats; the tracking module logs them, the CLI prints them.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import average_precision_score

from training.thresholds import apply_thresholds


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Per-tag tp, fp, fn, tn as (k,) int arrays. Inputs: (n, k) 0/1 or bool arrays."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    return {
        "tp": (t & p).sum(axis=0),
        "fp": (~t & p).sum(axis=0),
        "fn": (t & ~p).sum(axis=0),
        "tn": (~t & ~p).sum(axis=0),
    }


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2tp / (2tp + fp + fn) elementwise; 0 where there is nothing to score."""
    return _safe_div(2 * np.asarray(tp), 2 * np.asarray(tp) + fp + fn)


def scored_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 elementwise, NaN where there is nothing to score (no gold tag, none predicted: 2tp + fp + fn = 0):
    such a tag is not a measurement, neither a success nor a failure."""
    tp, fp, fn = (np.asarray(a, dtype=float) for a in (tp, fp, fn))
    return np.where(2 * tp + fp + fn > 0, f1_from_counts(tp, fp, fn), np.nan)


def macro_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Macro F1 over the last axis (tags) of count arrays, (k,) -> scalar or (b, k) -> (b,).

    A tag with nothing to score (scored_f1) is left out of the mean, not counted as 0: a slice of
    datelines the model rightly leaves untagged is not a failure, and a tag a slice does not hold
    counts only where the model wrongly gives it. NaN when no tag has anything to score. On a set
    that holds every tag (the gold splits, the dev files) this is the plain mean over all tags.
    """
    return _mean_of_scored(scored_f1(tp, fp, fn))


def _mean_of_scored(f1: np.ndarray) -> np.ndarray:
    """Mean over the last axis of scored_f1 values, NaN (nothing to score) left out; NaN where all are."""
    scored = (~np.isnan(f1)).sum(axis=-1)
    return np.divide(np.nansum(f1, axis=-1), scored, out=np.full(scored.shape, np.nan), where=scored > 0)


def micro_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """(micro F1, macro F1) over tags for (n, k) 0/1 arrays; macro as macro_from_counts."""
    c = confusion_counts(y_true, y_pred)
    micro = float(f1_from_counts(c["tp"].sum(), c["fp"].sum(), c["fn"].sum()))
    return micro, float(macro_from_counts(c["tp"], c["fp"], c["fn"]))


def pr_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of one tag; NaN when the tag has no positive (undefined)."""
    y_true = np.asarray(y_true).astype(int)
    if y_true.sum() == 0:
        return math.nan
    return float(average_precision_score(y_true, scores))


def bootstrap_f1(y_true: np.ndarray, y_pred: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of micro and macro F1, resampling sentences with replacement.

    Each resample is a vector of multinomial counts, so tp/fp/fn for all resamples come
    from one matrix product instead of n_boot Python loops. Returns
    {"micro_f1": (low, high), "macro_f1": (low, high), "f1": [(low, high) per tag]}.
    """
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    n = t.shape[0]
    if n == 0:
        raise ValueError("bootstrap_f1: no rows to resample")
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    tp = weights @ (t & p)
    fp = weights @ (~t & p)
    fn = weights @ (t & ~p)
    # a tag with nothing to score in a resample is left out of that resample, as in macro_from_counts: a rare
    # tag a resample happens to miss no longer pulls its macro-F1 to 0
    per_tag = scored_f1(tp, fp, fn)
    macro = _mean_of_scored(per_tag)
    micro = f1_from_counts(tp.sum(axis=1), fp.sum(axis=1), fn.sum(axis=1))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    with warnings.catch_warnings():  # a tag never scored in any resample: (nan, nan), not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        tag_low, tag_high = np.nanpercentile(per_tag, q, axis=0)
    macro = macro[~np.isnan(macro)]  # resamples in which no tag had anything to score
    return {
        "micro_f1": tuple(float(v) for v in np.percentile(micro, q)),
        "macro_f1": tuple(float(v) for v in np.percentile(macro, q)) if len(macro) else (math.nan, math.nan),
        "f1": [(float(lo), float(hi)) for lo, hi in zip(tag_low, tag_high)],
    }


def exact_match(y_a: np.ndarray, y_b: np.ndarray) -> float:
    """Share of rows whose whole tag set is the same in both 0/1 matrices ("no stance" included);
    nan for no rows. Gold against predictions, or one model's tags against another's."""
    y_a, y_b = np.asarray(y_a).astype(bool), np.asarray(y_b).astype(bool)
    return float((y_a == y_b).all(axis=1).mean()) if len(y_a) else float("nan")


def evaluate_predictions(y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, tags: Sequence[str],
                         n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """All metrics of one model on one labeled set.

    Inputs: y_true (n, k) 0/1, probs (n, k), thresholds (k,), tags (k names).
    Returns {"n", "micro_f1", "macro_f1", "exact_match" (share of rows whose whole tag set
    is right, "no stance" included), "micro_f1_low/high", "macro_f1_low/high",
    "per_tag": {tag: {precision, recall, f1, f1_low, f1_high, pr_auc, support, tp, fp, fn, tn}}}.
    A tag with nothing to score (no gold tag, none predicted) has F1 NaN and is left out of macro F1
    (macro_from_counts); NaN values are not logged (flatten_metrics) and print as "-".
    """
    y_true = np.asarray(y_true).astype(bool)
    probs = np.asarray(probs, dtype=float)
    if y_true.shape != probs.shape or probs.shape[1] != len(tags):
        raise ValueError(f"shapes differ: y_true {y_true.shape}, probs {probs.shape}, {len(tags)} tags")
    y_pred = apply_thresholds(probs, thresholds)
    c = confusion_counts(y_true, y_pred)
    precision = _safe_div(c["tp"], c["tp"] + c["fp"])
    recall = _safe_div(c["tp"], c["tp"] + c["fn"])
    f1 = scored_f1(c["tp"], c["fp"], c["fn"])
    micro, macro = micro_macro_f1(y_true, y_pred)
    ci = bootstrap_f1(y_true, y_pred, n_boot=n_boot, seed=seed)
    per_tag = {
        tag: {
            "precision": float(precision[j]), "recall": float(recall[j]), "f1": float(f1[j]),
            "f1_low": ci["f1"][j][0], "f1_high": ci["f1"][j][1],
            "pr_auc": pr_auc(y_true[:, j], probs[:, j]), "support": int(y_true[:, j].sum()),
            **{k: int(v[j]) for k, v in c.items()},
        }
        for j, tag in enumerate(tags)
    }
    return {
        "n": int(y_true.shape[0]),
        "micro_f1": micro, "macro_f1": macro, "exact_match": exact_match(y_true, y_pred),
        "micro_f1_low": ci["micro_f1"][0], "micro_f1_high": ci["micro_f1"][1],
        "macro_f1_low": ci["macro_f1"][0], "macro_f1_high": ci["macro_f1"][1],
        "per_tag": per_tag,
    }


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"macro_f1": .., "per_tag": {"denial": {"f1": ..}}} -> {"macro_f1": .., "f1_denial": ..}.

    NaN values (undefined PR-AUC) are left out: they are not measurements.
    """
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if key == "per_tag":
            for tag, stats in value.items():
                for name, v in stats.items():
                    flat[f"{prefix}{name}_{tag}"] = float(v)
        elif isinstance(value, (int, float)):
            flat[f"{prefix}{key}"] = float(value)
    return {k: v for k, v in flat.items() if not math.isnan(v)}
