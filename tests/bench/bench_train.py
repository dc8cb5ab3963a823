"""Training benchmark: baseline and fine-tuning time, throughput, and macro-F1 on ../shared/dev.

Trains on the project's own labeled data (data/gold/*.jsonl) split by configs/dataset.yaml;
thresholds are tuned on its validation split, never on dev. Without gold data it falls
back to template sentences and says so.

    python -c "from tests.bench.bench_train import run; print(run(quick=True))"
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from labeling.config import CONFIG_DIR, PROJECT_ROOT, load_config
from labeling.schema import load_schema

DEV = PROJECT_ROOT.parent / "shared" / "dev" / "dev.jsonl"
GOLD = PROJECT_ROOT / "data" / "gold"
FINETUNE_SENTENCES, FINETUNE_EPOCHS = 2000, 3


def _data(tags: list[str], notes: list[str]) -> dict[str, list[dict]]:
    from training.dataset import DatasetConfig, split_rows
    from training.labeled import load_labeled

    if GOLD.is_dir() and any(GOLD.glob("*.jsonl")):
        rows = load_labeled(GOLD, tags)
        notes.append(f"training data: data/gold ({len(rows)} sentences), split by configs/dataset.yaml")
    else:
        from tests.helpers import make_rows

        rows = make_rows(600)
        notes.append("data/gold is missing: trained on 600 template sentences; dev figures are not meaningful")
    return split_rows(rows, tags, load_config(DatasetConfig, CONFIG_DIR / "dataset.yaml"))


def _score(model_dir: Path, texts: list[str], dev: list[dict] | None, tags: list[str]) -> tuple[float, float | None]:
    from training.evaluate import evaluate_scorer
    from training.scoring import load_scorer

    scorer = load_scorer(model_dir)
    scorer.predict_proba(texts[:64])  # warm-up: first call pays lazy initialisation
    started = time.perf_counter()
    scorer.predict_proba(texts)
    per_second = len(texts) / (time.perf_counter() - started)
    macro = evaluate_scorer(scorer, dev, n_boot=200)[0]["macro_f1"] if dev else None
    return per_second, macro


def _row(model: str, n_train: int, epochs: int | str, seconds: float, train_sps: float, score_sps: float,
         dev_f1: float | None, target: str) -> dict:
    return {"model": model, "train sentences": n_train, "epochs": epochs, "train s": round(seconds, 1),
            "train sentences/s": round(train_sps, 1), "scoring sentences/s (1 process)": round(score_sps),
            "dev macro-F1": "-" if dev_f1 is None else round(dev_f1, 3), "target": target}


def run(quick: bool = False) -> dict:
    """Train both models once; returns {"title", "rows", "notes"} for docs/benchmarks.md."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset

    from training.baseline import BaselineConfig, train_baseline
    from training.labeled import load_labeled

    tags = load_schema().names
    notes: list[str] = []
    splits = _data(tags, notes)
    dev = load_labeled(DEV, tags) if DEV.is_file() else None
    if dev is None:
        notes.append("../shared/dev/dev.jsonl not present: no dev macro-F1")
    texts = [r["text"] for r in splits["train"]]
    bench_texts = (texts * (10_000 // max(len(texts), 1) + 1))[:2_000 if quick else 10_000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(BaselineConfig, CONFIG_DIR / "baseline.yaml")
        result = train_baseline(Dataset.from_list(splits["train"]), Dataset.from_list(splits["validation"]), tags,
                                cfg, Path(tmp) / "baseline")
        sps, f1 = _score(result.model_dir, bench_texts, dev, tags)
        rows.append(_row("baseline (TF-IDF + LR, C by grouped CV)", len(texts), "-", result.train_seconds,
                         result.sentences_per_second, sps, f1, "train < 30 s"))
        rows.append(_finetune(splits, tags, Path(tmp) / "finetune", bench_texts, dev, quick, notes))
    notes.append("train sentences/s: training sentences divided by wall time (baseline includes the C search)")
    notes.append(f"dev: {DEV} ({len(dev) if dev else 0} sentences, never used for training or thresholds)")
    return {"title": "Training: time, throughput, dev macro-F1", "rows": rows, "notes": notes}


def _finetune(splits: dict, tags: list[str], out: Path, bench_texts: list[str], dev: list[dict] | None,
              quick: bool, notes: list[str]) -> dict:
    import torch
    from datasets import Dataset

    from training.finetune import FinetuneConfig, train_transformer

    torch.set_num_threads(2)  # the target machine has 2 cores
    n, epochs = (200, 1) if quick else (FINETUNE_SENTENCES, FINETUNE_EPOCHS)
    train = splits["train"]
    if len(train) < n:
        notes.append(f"fine-tuning: the train split has {len(train)} sentences, cycled to {n} for the timing run")
    train = (train * (n // max(len(train), 1) + 1))[:n]
    cfg = load_config(FinetuneConfig, CONFIG_DIR / "finetune.yaml",
                      {"epochs": epochs, "patience": 0, "num_threads": 2, "progress": False})
    result = train_transformer(Dataset.from_list(train), Dataset.from_list(splits["validation"]), tags, cfg, out)
    sps, f1 = _score(result.model_dir, bench_texts[:2000], dev, tags)
    return _row(f"fine-tuned {cfg.backbone} (fused float ONNX scoring)", n, epochs, result.train_seconds,
                result.sentences_per_second, sps, f1, f"{n} sentences x {epochs} epochs < 10 min")
