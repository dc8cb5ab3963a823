"""Train one model of either kind, and score one grouped fold: untracked, no MLflow.

`training.train` wraps these in MLflow runs; the Label Studio backend's comparison
(training.studio_backend.compare) and the benchmarks call them directly. Nothing here
imports MLflow, so a fold can be scored where MLflow is not installed.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from datasets import Dataset

from labeling.config import StrictModel
from training.dataset import cluster_ids, stratified_cluster_assign
from training.evaluate import evaluate_scorer
from training.finetune_trainer import EpochHook
from training.labeled import label_matrix
from training.metrics import flatten_metrics
from training.results import TrainResult
from training.scoring import load_scorer


def fit(kind: str, train: list[dict], validation: list[dict], tags: Sequence[str], cfg: StrictModel,
        out_dir: Path, on_epoch: EpochHook | None = None) -> TrainResult:
    """Train one model of `kind` ("baseline", or "finetune"/"distil": a transformer) into `out_dir` (must not exist yet)."""
    train_ds, val_ds = Dataset.from_list(train), Dataset.from_list(validation)
    if kind == "baseline":
        from training.baseline import train_baseline

        return train_baseline(train_ds, val_ds, list(tags), cfg, out_dir)
    from training.finetune import train_transformer

    return train_transformer(train_ds, val_ds, list(tags), cfg, out_dir, on_epoch=on_epoch)


def inner_split(rows: list[dict], tags: Sequence[str], seed: int) -> tuple[list[dict], list[dict]]:
    """Grouped 80/20 split of a fold's training rows: early stopping and thresholds need data the model has not fit."""
    parts = stratified_cluster_assign(label_matrix(rows, tags), cluster_ids(rows), (0.8, 0.2), seed)
    return [r for r, p in zip(rows, parts) if p == 0], [r for r, p in zip(rows, parts) if p == 1]


def score_fold(kind: str, train: list[dict], test: list[dict], tags: Sequence[str], cfg: StrictModel,
               seed: int) -> dict[str, float]:
    """Fit `kind` on a grouped 80% of `train` (the other 20% validates, `seed` draws it) and score `test`.

    Returns the flat metrics of training.metrics.flatten_metrics plus `train_seconds`.
    """
    fit_rows, val_rows = inner_split(train, tags, seed)
    with tempfile.TemporaryDirectory(prefix="stance-cv-") as tmp:
        result = fit(kind, fit_rows, val_rows, tags, cfg, Path(tmp) / "model")
        # a model trained without an ONNX export is scored in PyTorch
        backend = {"backend": "torch"} if getattr(cfg, "export_onnx", True) is False else {}
        metrics, _ = evaluate_scorer(load_scorer(result.model_dir, **backend), test, n_boot=200)
    flat = flatten_metrics(metrics)
    flat["train_seconds"] = result.train_seconds
    return flat
