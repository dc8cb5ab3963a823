"""Inter-annotator agreement over a snapshot's annotations (pure, plus one heat-map writer).

Krippendorff's alpha (nominal) per tag, each tag read as a yes/no decision, and
overall, pooling every (sentence, tag) decision as one unit. Cohen's kappa for each
pair of annotators over the same pooled decisions on the sentences both annotated.
Label Studio's free edition computes neither.

A value that cannot be computed (one annotator, no sentence two people annotated, a tag
nobody ticked) is nan in `Agreement` and null with a reason in `agreement_report`, the
JSON written beside the snapshot (valid JSON: never NaN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import krippendorff
import numpy as np

from labeling.io import atomic_path


@dataclass
class Agreement:
    """alpha: {tag or "overall": value (nan when undefined)}; kappa: {(a, b): (value, shared items)};
    items: {annotator: items annotated}."""

    annotators: list[str]
    alpha: dict[str, float] = field(default_factory=dict)
    kappa: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    shared_items: int = 0  # sentences annotated by at least two people
    reasons: dict[str, str] = field(default_factory=dict)  # why an alpha is nan, by tag or "overall"

    @property
    def too_few(self) -> str | None:
        """Why nothing can be measured at all (one annotator, or nobody shares a sentence), else None."""
        if len(self.annotators) < 2:
            who = self.annotators[0] if self.annotators else "nobody"
            return (f"only one annotator ({who}): agreement needs two people on the same sentences. Give the "
                    "project an overlap (annotators_per_task >= 2 in configs/studio.yaml, applied by "
                    "`stance label push`) and add annotators with `stance label add-user EMAIL`")
        if self.shared_items == 0:
            return (f"{len(self.annotators)} annotators, but no sentence was annotated by two of them yet: "
                    "label the overlapping tasks (annotators_per_task, overlap_share in configs/studio.yaml)")
        return None


def decision_matrix(annotations: Sequence[dict[str, Any]], tags: Sequence[str]) -> tuple[list[str], list[str], np.ndarray]:
    """(annotators, item ids, array [annotator, item, tag]) of 1.0/0.0, nan where not annotated."""
    annotators = sorted({a["annotator"] for a in annotations})
    items = sorted({a["id"] for a in annotations})
    ai = {a: i for i, a in enumerate(annotators)}
    ii = {s: i for i, s in enumerate(items)}
    cube = np.full((len(annotators), len(items), len(tags)), np.nan)
    for a in annotations:
        chosen = set(a["labels"])
        cube[ai[a["annotator"]], ii[a["id"]], :] = [1.0 if t in chosen else 0.0 for t in tags]
    return annotators, items, cube


def nominal_alpha(data: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) for an [annotator, unit] array with nan for missing.

    nan when undefined: fewer than two pairable values, or only one value observed
    (no disagreement can be measured then).
    """
    pairable = np.sum(~np.isnan(data), axis=0) >= 2
    values = data[:, pairable]
    observed = np.unique(values[~np.isnan(values)])
    if observed.size < 2:
        return math.nan
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement="nominal"))


def _alpha_reason(data: np.ndarray) -> str:
    """Why nominal_alpha(data) is nan."""
    if not np.any(np.sum(~np.isnan(data), axis=0) >= 2):
        return "no sentence annotated by two people"
    return "every shared decision was the same (e.g. nobody ticked the tag): no disagreement to measure"


def cohen_kappa(x: np.ndarray, y: np.ndarray) -> float:
    """Cohen's kappa for two equal-length 0/1 vectors; nan when chance agreement is 1."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size == 0:
        return math.nan
    po = float(np.mean(x == y))
    px, py = float(np.mean(x)), float(np.mean(y))
    pe = px * py + (1 - px) * (1 - py)
    return math.nan if math.isclose(pe, 1.0) else (po - pe) / (1 - pe)


def compute_agreement(annotations: Sequence[dict[str, Any]], tags: Sequence[str]) -> Agreement:
    """Alpha per tag and overall, pairwise kappa and items per annotator.

    Input: rows {id, annotator, labels} (one per annotator and sentence).
    Raises ValueError when there are no annotations.
    """
    if not annotations:
        raise ValueError("no annotations to compare")
    annotators, _, cube = decision_matrix(annotations, tags)
    result = Agreement(annotators=annotators)
    for j, tag in enumerate(tags):
        result.alpha[tag] = nominal_alpha(cube[:, :, j])
        if math.isnan(result.alpha[tag]):
            result.reasons[tag] = _alpha_reason(cube[:, :, j])
    result.alpha["overall"] = nominal_alpha(cube.reshape(len(annotators), -1))
    if math.isnan(result.alpha["overall"]):
        result.reasons["overall"] = _alpha_reason(cube.reshape(len(annotators), -1))
    result.shared_items = int(np.sum(np.sum(~np.isnan(cube[:, :, 0]), axis=0) >= 2))
    for i, j in combinations(range(len(annotators)), 2):
        both = ~np.isnan(cube[i, :, 0]) & ~np.isnan(cube[j, :, 0])
        value = cohen_kappa(cube[i, both, :].ravel(), cube[j, both, :].ravel())
        result.kappa[(annotators[i], annotators[j])] = (value, int(both.sum()))
    result.items = {a: int(np.sum(~np.isnan(cube[i, :, 0]))) for i, a in enumerate(annotators)}
    return result


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def agreement_report(agreement: Agreement) -> dict[str, Any]:
    """The agreement as JSON-ready data: numbers, or null with the reason beside them (no NaN)."""
    kappa = []
    for (a, b), (value, shared) in agreement.kappa.items():
        row = {"a": a, "b": b, "kappa": _number(value), "shared": shared}
        if row["kappa"] is None:
            row["reason"] = ("no sentence annotated by both" if shared == 0
                             else "chance agreement is 1 (both always gave the same answer)")
        kappa.append(row)
    return {"annotators": agreement.annotators, "items": agreement.items, "shared_items": agreement.shared_items,
            "too_few_annotators": agreement.too_few,
            "alpha": {k: _number(v) for k, v in agreement.alpha.items()},
            "alpha_reasons": dict(agreement.reasons), "kappa": kappa}


def kappa_matrix(agreement: Agreement) -> np.ndarray:
    """Symmetric [annotator, annotator] kappa array, 1 on the diagonal, nan where undefined."""
    n = len(agreement.annotators)
    mat = np.eye(n)
    index = {a: i for i, a in enumerate(agreement.annotators)}
    for (a, b), (value, _) in agreement.kappa.items():
        mat[index[a], index[b]] = mat[index[b], index[a]] = value
    return mat


def write_heatmap(agreement: Agreement, target: Path | str, title: str = "Cohen's kappa") -> Path:
    """Write the pairwise-kappa heat-map PNG atomically; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mat = kappa_matrix(agreement)
    names = agreement.annotators
    size = 2.5 + 0.9 * len(names)
    fig = Figure(figsize=(size + 1.5, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(mat), vmin=-1, vmax=1, cmap="RdYlGn")
    ax.set_xticks(range(len(names)), labels=names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), labels=names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, "n/a" if math.isnan(mat[i, j]) else f"{mat[i, j]:.2f}", ha="center", va="center")
    alpha = agreement.alpha.get("overall", math.nan)
    ax.set_title(f"{title} (overall alpha {'n/a' if math.isnan(alpha) else f'{alpha:.2f}'})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(target)
