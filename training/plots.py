"""Figures for runs and reports. Built on matplotlib's object API (no pyplot global state)."""
from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
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
    if ax.get_lines():
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no tag has a positive sentence here", ha="center", va="center")
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


def _panel(key: str) -> str:
    if "loss" in key:
        return "loss"
    if "second" in key or key.endswith("_s") or "time" in key:
        return "seconds"
    return "score"


def epoch_curves(history: Sequence[dict[str, Any]]) -> Figure:
    """The history against its epoch (or step), one panel per scale: losses, scores in [0, 1]
    (F1, precision...), and seconds, so that neither flattens the others."""
    xs = [h.get("epoch", h.get("step", i)) for i, h in enumerate(history)]
    keys = sorted({k for h in history for k, v in h.items() if isinstance(v, (int, float)) and k not in ("epoch", "step")})
    panels = [p for p in ("loss", "score", "seconds") if any(_panel(k) == p for k in keys)] or ["score"]
    fig = Figure(figsize=(4.2 * len(panels), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels):
        for key in (k for k in keys if _panel(k) == panel):
            ax.plot(xs, [h.get(key, np.nan) for h in history], marker="o", label=key)
        ax.set(xlabel="epoch" if "epoch" in (history[0] if history else {}) else "step", title=panel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        if panel == "seconds":
            ax.set_ylim(bottom=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle("training curves")
    fig.tight_layout()
    return fig


def f1_across_runs(runs: Sequence[dict[str, Any]], tags: Sequence[str]) -> Figure:
    """Per-tag F1 (x) for each run (colour) with its interval as error bars, the champion drawn
    with a heavy edge and named in the legend; a second panel with each run's scores on other
    labeled files (`evals`: {file: (macro-F1, low, high)}) when any run has them.

    runs: [{"label", "f1": {tag: value}, "low": {tag: v}, "high": {tag: v}, "champion": bool,
    "evals": {...}}]. The y axis spans the data (differences of 0.02 stay visible); the legend
    sits below the bars, never on them.
    """
    files = sorted({f for r in runs for f in r.get("evals", {})})
    fig = Figure(figsize=(max(7, 1.6 * len(tags) + (1.2 * len(files) if files else 0)), 4.6))
    axes = fig.subplots(1, 2, width_ratios=[len(tags), max(len(files), 1)]) if files else [fig.subplots()]
    width = 0.8 / max(len(runs), 1)
    values = []

    def bars(ax, names, get):
        x = np.arange(len(names))
        for i, run in enumerate(runs):
            mid = np.array([get(run, n)[0] for n in names], dtype=float)
            low = np.array([get(run, n)[1] for n in names], dtype=float)
            high = np.array([get(run, n)[2] for n in names], dtype=float)
            err = np.vstack([np.clip(mid - low, 0, None), np.clip(high - mid, 0, None)])
            err = np.where(np.isnan(err), 0, err)
            ax.bar(x + i * width - 0.4 + width / 2, mid, width, yerr=err, capsize=2,
                   label=run["label"] + (" (champion)" if run.get("champion") else ""),
                   edgecolor="black" if run.get("champion") else "none", linewidth=2 if run.get("champion") else 0)
            values.extend(v for v in np.concatenate([mid, low, high]) if not np.isnan(v))
        ax.set_xticks(x, list(names), rotation=15 if len(names) > 4 else 0)
        ax.grid(axis="y", alpha=0.3)

    def tag_value(run, tag):
        return run["f1"].get(tag, np.nan), run.get("low", {}).get(tag, np.nan), run.get("high", {}).get(tag, np.nan)

    bars(axes[0], tags, tag_value)
    axes[0].set(ylabel="F1", title="per-tag F1 (test split)")
    if files:
        bars(axes[1], files, lambda run, f: run.get("evals", {}).get(f, (np.nan, np.nan, np.nan)))
        axes[1].set(ylabel="macro-F1", title="other labeled files")
    low = max(0.0, (min(values) if values else 0.0) - 0.05)
    high = min(1.0, (max(values) if values else 1.0) + 0.03)
    for ax in axes:
        ax.set_ylim(low, high)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.05 * ((len(labels) - 1) // 3), 1, 1))
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure rendered as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
