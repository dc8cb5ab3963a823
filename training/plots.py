"""Figures for runs and reports. Built on matplotlib's object API (no pyplot global state)."""
from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve


def pr_curves(y_true: np.ndarray, probs: np.ndarray, tags: Sequence[str], thresholds: np.ndarray) -> Figure:
    """Precision-recall curve per tag, with the operating point of the tuned threshold marked."""
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for j, tag in enumerate(tags):
        if y_true[:, j].sum() == 0:
            continue  # undefined without positives
        precision, recall, _ = precision_recall_curve(y_true[:, j], probs[:, j])
        (line,) = ax.plot(recall, precision, label=tag)
        pred = probs[:, j] >= thresholds[j]
        tp = float((pred & (y_true[:, j] == 1)).sum())
        if pred.any():
            ax.plot(tp / y_true[:, j].sum(), tp / pred.sum(), "o", color=line.get_color())
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title="PR curves (dot: threshold)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def tag_matrix(per_tag: dict[str, dict[str, Any]]) -> Figure:
    """Per-tag confusion counts (TP, FP, FN, TN) as an annotated heat-map."""
    tags = list(per_tag)
    cols = ["tp", "fp", "fn", "tn"]
    values = np.array([[per_tag[t][c] for c in cols] for t in tags], dtype=float)
    fig = Figure(figsize=(5, 0.6 * len(tags) + 1.5))
    ax = fig.subplots()
    # scale per column: TN dwarfs the rest and would wash out the colours
    scaled = values / np.maximum(values.max(axis=0, keepdims=True), 1)
    ax.imshow(scaled, cmap="Blues", aspect="auto", vmin=0, vmax=1)
    for i in range(len(tags)):
        for j in range(len(cols)):
            ax.text(j, i, f"{int(values[i, j])}", ha="center", va="center",
                    color="white" if scaled[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(cols)), [c.upper() for c in cols])
    ax.set_yticks(range(len(tags)), tags)
    ax.set_title("per-tag confusion counts")
    fig.tight_layout()
    return fig


def epoch_curves(history: Sequence[dict[str, Any]]) -> Figure:
    """Every numeric series of the history against its epoch (or step)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    xs = [h.get("epoch", h.get("step", i)) for i, h in enumerate(history)]
    keys = sorted({k for h in history for k, v in h.items() if isinstance(v, (int, float)) and k not in ("epoch", "step")})
    for key in keys:
        ax.plot(xs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    ax.set(xlabel="epoch", title="training curves")
    if keys:
        ax.legend()
    fig.tight_layout()
    return fig


def f1_across_runs(runs: Sequence[tuple[str, dict[str, float]]], tags: Sequence[str]) -> Figure:
    """Grouped bars: per-tag F1 (x) for each run (colour). runs: [(label, {tag: f1})]."""
    fig = Figure(figsize=(max(6, 1.5 * len(tags)), 4))
    ax = fig.subplots()
    width = 0.8 / max(len(runs), 1)
    x = np.arange(len(tags))
    for i, (label, f1) in enumerate(runs):
        ax.bar(x + i * width - 0.4 + width / 2, [f1.get(t, np.nan) for t in tags], width, label=label)
    ax.set_xticks(x, list(tags))
    ax.set(ylabel="F1", ylim=(0, 1), title="per-tag F1 across runs")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure rendered as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
