"""The real-news dev files (../shared/dev, when present) as a benchmark reads them: each file,
both together, and the issue's quality targets checked against a model's scores.

Only for scoring: never for training, thresholds or recipe choice.
"""
from __future__ import annotations

from typing import Any

from labeling.config import PROJECT_ROOT

DEV_DIR = PROJECT_ROOT.parent / "shared" / "dev"
FILES = {"dev": "dev.jsonl", "dev-articles": "dev-articles.jsonl"}
# issue 16's targets, on both files together unless the name says otherwise
TARGET_MACRO, TARGET_TAG, TARGET_EXACT, TARGET_ARTICLES_TAG = 0.80, 0.70, 0.72, 0.70


def load_dev(tags: list[str]) -> dict[str, list[dict]]:
    """{"dev": rows, "dev-articles": rows, "both": rows} of the files present ({} when none is)."""
    from training.labeled import load_labeled

    sets = {name: load_labeled(DEV_DIR / f, tags, keep=["file"]) for name, f in FILES.items() if (DEV_DIR / f).is_file()}
    if sets:
        sets["both"] = [r for rows in sets.values() for r in rows]
    return sets


def score_dev(scorer: Any, sets: dict[str, list[dict]]) -> dict[str, dict]:
    """evaluate_predictions metrics of `scorer` on each dev set."""
    from training.evaluate import evaluate_scorer

    return {name: evaluate_scorer(scorer, rows)[0] for name, rows in sets.items()}


def target_notes(model: str, dev: dict[str, dict], tags: list[str]) -> list[str]:
    """One line per issue-16 target: measured value, met or by how much it falls short."""
    def check(name: str, value: float, target: float) -> str:
        return f"{name} {value:.3f} (target >= {target}: {'met' if value >= target else f'NOT met, short by {target - value:.3f}'})"

    both, notes = dev.get("both"), []
    if both is None:
        return ["../shared/dev not present: real-news targets not checked"]
    notes.append(f"{model}, both dev files: " + "; ".join(
        [check("macro-F1", both["macro_f1"], TARGET_MACRO), check("exact match", both["exact_match"], TARGET_EXACT)]
        + [check(f"F1 {t}", both["per_tag"][t]["f1"], TARGET_TAG) for t in tags]))
    if "dev-articles" in dev:
        arts = dev["dev-articles"]["per_tag"]
        notes.append(f"{model}, dev-articles.jsonl: " + "; ".join(
            check(f"F1 {t}", arts[t]["f1"], TARGET_ARTICLES_TAG) for t in ("escalation", "denial")))
    return notes
