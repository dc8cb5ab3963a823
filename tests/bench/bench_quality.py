"""Quality benchmark (issue 6): both models trained exactly as `make demo` trains them,
on the starter gold set, scored on its own test split and on the real-news dev set; then
the student `stance train distil` builds from that fine-tuned model (configs/distill.yaml).

Training uses data/gold split by configs/dataset.yaml and the shipped configs
(configs/baseline.yaml, configs/finetune.yaml); thresholds come from the gold validation
split. ../shared/dev is read only for scoring, never for training or thresholds.

    python -m tests.bench.run_all --only quality
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from labeling.config import CONFIG_DIR, PROJECT_ROOT, load_config
from labeling.schema import load_schema

DEV = PROJECT_ROOT.parent / "shared" / "dev" / "dev.jsonl"
GOLD = PROJECT_ROOT / "data" / "gold"
TARGET_DEV_F1, TARGET_MARGIN = 0.65, 0.10


def _interval(m: dict) -> str:
    return f"{m['macro_f1']:.3f} [{m['macro_f1_low']:.3f}, {m['macro_f1_high']:.3f}]"


def _row(kind: str, seconds: float, test: dict, dev: dict | None, tags: list[str]) -> dict:
    row = {"model": kind, "train s": round(seconds), "gold test macro-F1 [95% CI]": _interval(test),
           "dev macro-F1 [95% CI]": _interval(dev) if dev else "-"}
    for tag in tags:
        row[f"dev F1 {tag}"] = round(dev["per_tag"][tag]["f1"], 3) if dev else "-"
    return row


def run(quick: bool = False) -> dict:
    """Train both models on the gold set; returns {"title", "rows", "notes"}."""
    from training.baseline import BaselineConfig
    from training.dataset import DatasetConfig, split_rows
    from training.evaluate import evaluate_scorer
    from training.train import fit
    from training.finetune import FinetuneConfig
    from training.labeled import load_labeled
    from training.scoring import load_scorer

    tags = load_schema().names
    rows = load_labeled(GOLD, tags)
    splits = split_rows(rows, tags, load_config(DatasetConfig, CONFIG_DIR / "dataset.yaml"))
    dev = load_labeled(DEV, tags) if DEV.is_file() else None
    short = {"epochs": 1, "progress": False} if quick else {"progress": False}
    results, out_rows = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        configs = {"baseline": load_config(BaselineConfig, CONFIG_DIR / "baseline.yaml"),
                   "finetune": load_config(FinetuneConfig, CONFIG_DIR / "finetune.yaml", short),
                   # the student learns from the finetune model, trained before it into tmp/finetune
                   "distil": load_config(FinetuneConfig, CONFIG_DIR / "distill.yaml",
                                         {**short, "teacher": str(Path(tmp) / "finetune")})}
        for kind, cfg in configs.items():
            result = fit(kind, splits["train"], splits["validation"], tags, cfg, Path(tmp) / kind)
            scorer = load_scorer(result.model_dir)
            test = evaluate_scorer(scorer, splits["test"])[0]
            on_dev = evaluate_scorer(scorer, dev)[0] if dev else None
            results[kind] = (test, on_dev)
            out_rows.append(_row(kind, result.train_seconds, test, on_dev, tags))
    notes = [f"gold set: {len(rows)} sentences in data/gold, split {', '.join(f'{k} {len(v)}' for k, v in splits.items())}"
             " (grouped by duplicate group and article)"]
    if dev:
        base, fine = results["baseline"][1]["macro_f1"], results["finetune"][1]["macro_f1"]
        notes.append(f"dev: {len(dev)} real-news sentences (../shared/dev), never used for training or thresholds")
        notes.append(f"target: fine-tuned >= {TARGET_DEV_F1} on dev ({'met' if fine >= TARGET_DEV_F1 else 'NOT met'}: "
                     f"{fine:.3f}) and >= baseline + {TARGET_MARGIN} ({'met' if fine - base >= TARGET_MARGIN else 'NOT met'}: "
                     f"+{fine - base:.3f})")
        student = results["distil"][1]["macro_f1"]
        notes.append(f"distil: the {configs['distil'].num_layers}-layer student "
                     f"of the finetune row (stance train distil): dev {student:.3f}, {student - fine:+.3f} vs its "
                     f"teacher, {student - base:+.3f} vs the baseline")
        notes.append("dev has only 5 denial sentences: its denial F1 (and so macro-F1) is noisy")
    else:
        notes.append("../shared/dev not present: dev figures skipped")
    if quick:
        notes.append("quick run: 1 fine-tuning epoch, figures are not the shipped model's")
    return {"title": "Quality: models trained on the starter gold set", "rows": out_rows, "notes": notes}
