"""Fine-tune a transformer backbone for multi-label stance tagging.

`train_transformer` fits a sequence-classification head (sigmoid/BCE) with the
Hugging Face Trainer, evaluates every epoch, stops early on validation macro-F1
keeping the best epoch, tunes per-tag thresholds on validation and writes a model
directory (docs/architecture.md): meta.json, hf/ and the ONNX graph (model.onnx,
or model.int8.onnx with quantize: int8).

The Trainer is what makes the same code run under `torchrun` (docs/torchrun.md):
it wraps the model in DistributedDataParallel and shards batches; only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np
from pydantic import Field, field_validator

from labeling.config import DEFAULT_SEED, StrictModel
from labeling.io import atomic_open, replace_dir
from training.backbones import DEFAULT_BACKBONE, resolve_backbone
from training.finetune_trainer import EpochHook, EpochTracker, build_trainer, macro_f1
from training.labeled import multi_hot
from training.preprocess import PREPROCESS_VERSION, normalize_text
from training.results import TrainResult
from training.thresholds import tune_thresholds
from training.transformer_scorer import HF_SUBDIR, quiet_transformers, sigmoid

__all__ = ["FinetuneConfig", "label_matrix", "macro_f1", "train_transformer"]


class FinetuneConfig(StrictModel):
    """Hyper-parameters of `stance train finetune` (defaults suit ~1-2k sentences on 2 CPU cores)."""

    backbone: str = DEFAULT_BACKBONE
    max_length: int = Field(80, ge=8, le=512)
    epochs: int = Field(8, ge=1)
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    layer_lr_decay: float = Field(1.0, gt=0, le=1, description=(
        "layer-wise learning-rate decay: the classifier learns at learning_rate, each transformer layer "
        "below it at this factor times the layer above (lower layers keep more of the backbone's "
        "general language); 1 = one rate for all"))
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    seed: int = DEFAULT_SEED
    patience: int = Field(2, ge=0, description="epochs without validation macro-F1 gain before stopping; 0 = never")
    # Word embeddings are half of MiniLM's weights: freezing them cuts a CPU step by ~20%
    # and keeps rare words from drifting on a small training set.
    freeze_embeddings: bool = True
    freeze_layers: int = Field(0, ge=0, description=(
        "also freeze the embeddings and the backbone's first N transformer layers: backward stops "
        "below them (2 of MiniLM's 6: a step ~20% cheaper); scoring cost unchanged"))
    num_layers: int | None = Field(None, ge=1, description=(
        "keep only N of the backbone's transformer layers: scoring cost falls in proportion, "
        "quality usually a little; default all"))
    layer_choice: Literal["first", "spread"] = Field("first", description=(
        "which N layers num_layers keeps: the first N, or N spread evenly from the first to the last "
        "(3 of 6: 0, 2, 5), so the head still reads the last layer it was trained on"))
    teacher: str | None = Field(None, description=(
        "a fine-tuned transformer model directory with the same tags: its probabilities on the training "
        "sentences are blended into the targets (knowledge distillation), e.g. for a --num-layers student"))
    distill_weight: float = Field(0.5, ge=0, le=1, description="share of the teacher's probabilities in the targets")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description=(
        "training targets move from 0/1 to eps/2 and 1 - eps/2 (validation keeps 0/1): a regulariser for "
        "labels that are not all certain; 0 = off (0.1 measured in docs/benchmarks.md, not the default). "
        "class_weight reads the smoothed targets, so a rare tag's positives weigh a little less"))
    class_weight: Literal["none", "sqrt_balanced"] = Field("none", description=(
        "BCE weight of each tag's positives: none, or sqrt(negatives/positives) in the training split "
        "(lifts recall of rare tags)"))
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads; default: torch's choice")
    export_onnx: bool = True
    # Float by default: dynamic int8 flips tag sets near the tuned thresholds
    # (measurements in docs/benchmarks.md); int8 is for faster, looser scoring.
    quantize: Literal["none", "int8"] = Field("none", description="ONNX export: fused float (none) or dynamic int8")
    progress: bool = True

    @field_validator("backbone")
    @classmethod
    def _backbone_exists(cls, v: str) -> str:
        # Resolve now so a wrong path fails at config time, before any data is read.
        resolve_backbone(v)
        return v


def label_matrix(rows: Sequence[Sequence[str]], tags: Sequence[str], ids: Sequence[Any] | None = None) -> np.ndarray:
    """(n, k) float32 multi-hot matrix of label lists (the BCE targets); unknown tags raise
    ValueError naming the row id (training.labeled.multi_hot)."""
    return multi_hot(rows, tags, ids, dtype=np.float32)


def _tokenize(split: Any, tags: Sequence[str], tokenizer: Any, max_length: int, soft: np.ndarray | None = None,
              weight: float = 0.0, by_length: bool = False, smoothing: float = 0.0) -> Any:
    """Token ids, attention masks and (soft) label vectors of `split` (smoothed towards 0.5 by
    `smoothing`, after any teacher blend); rows shortest first when
    `by_length` (for evaluation: the Trainer batches it in order, and sorted batches carry ~2x less
    padding; every consumer reads labels and logits from the same output, so order is free)."""
    from datasets import Dataset

    for column in ("text", "labels"):
        if column not in split.column_names:
            raise ValueError(f"dataset split has no {column!r} column (has {', '.join(split.column_names)})")
    ids = split["id"] if "id" in split.column_names else None
    y = label_matrix(split["labels"], tags, ids)
    if soft is not None:
        # BCE is linear in its target: BCE(p, w*t + (1-w)*y) = w*BCE(p, t) + (1-w)*BCE(p, y).
        y = (weight * soft + (1 - weight) * y).astype(np.float32)
    if smoothing:
        y = (y * (1 - smoothing) + smoothing / 2).astype(np.float32)
    enc = tokenizer([normalize_text(t) for t in split["text"]], truncation=True, max_length=max_length)
    order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable") if by_length else np.arange(len(y))
    return Dataset.from_dict({"input_ids": [enc["input_ids"][i] for i in order],
                              "attention_mask": [enc["attention_mask"][i] for i in order], "labels": y[order].tolist()})


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    # torch's thread count is process-wide: restore it so callers (and tests) are unaffected.
    import torch

    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _use_cpu(device: str) -> bool:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device; use device 'cpu' or 'auto'")
    return device == "cpu" or not torch.cuda.is_available()


def _prepare_out_dir(out_dir: Path) -> Path:
    """Refuse to overwrite a directory that is not a model directory; return the build dir."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "meta.json").exists():
        raise FileExistsError(f"{out_dir}: exists and is not a model directory; choose another --out")
    # Deterministic name: every torchrun rank must agree on it.
    return out_dir.parent / f".{out_dir.name}.building"


def train_transformer(
    train: Any,
    validation: Any,
    tags: Sequence[str],
    cfg: FinetuneConfig,
    out_dir: Path | str,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Fine-tune `cfg.backbone` on `train`, select the epoch on `validation`, write a model dir.

    Inputs: HF `datasets.Dataset` splits with `text` and `labels` (list of tag names);
    `tags` in schema order; `on_epoch(row)` is called after each epoch with epoch,
    train_loss, val_loss, val_macro_f1, seconds.
    Output: TrainResult (model_dir, per-epoch history, params incl. best_epoch and
    thresholds, train_seconds, sentences_per_second = training examples per second).
    Raises ValueError for unknown tags or missing columns, FileExistsError when
    `out_dir` is a non-model directory, BackboneError for a missing backbone.
    """
    tags, out_dir = list(tags), Path(out_dir)
    if len(train) == 0 or len(validation) == 0:
        raise ValueError(f"need non-empty train and validation splits (got {len(train)} and {len(validation)})")
    build_dir = _prepare_out_dir(out_dir)
    backbone_dir = resolve_backbone(cfg.backbone)
    use_cpu = _use_cpu(cfg.device)
    try:
        return _fit(train, validation, tags, cfg, backbone_dir, use_cpu, build_dir, out_dir, on_epoch)
    except BaseException:
        # A crashed or interrupted run leaves no half-built directory behind.
        shutil.rmtree(build_dir, ignore_errors=True)
        raise


def spread_layers(have: int, keep: int) -> list[int]:
    """`keep` of `have` layer indices, evenly spaced from the first to the last (3 of 6: 0, 2, 5)."""
    return [int(i) for i in np.round(np.linspace(0, have - 1, keep))]


def _layer_plan(backbone_dir: Path, num_layers: int | None, choice: str) -> tuple[dict[str, int], list[int] | None]:
    """`from_pretrained` kwargs and the layers to keep once loaded (None: keep what was loaded).

    "first" loads only the first `num_layers` layers; "spread" loads them all and keeps
    spread_layers of them."""
    if num_layers is None:
        return {}, None
    from transformers import AutoConfig

    have = getattr(AutoConfig.from_pretrained(backbone_dir), "num_hidden_layers", None)
    if have is None:
        raise ValueError(f"num_layers: backbone {backbone_dir} does not say how many layers it has")
    if num_layers > have:
        raise ValueError(f"num_layers: {num_layers} asked, but backbone {backbone_dir} has {have}")
    if choice == "first":
        return {"num_hidden_layers": num_layers}, None
    return {}, spread_layers(have, num_layers)


def _encoder_layers(model: Any) -> Any:
    """The encoder's layer list of a BERT-style backbone (`base_model.encoder.layer`), else None."""
    return getattr(getattr(model.base_model, "encoder", None), "layer", None)


def _keep_layers(model: Any, keep: list[int] | None) -> None:
    """Drop every encoder layer not in `keep` (BERT-style backbones); the config follows."""
    if keep is None:
        return
    import torch

    layers = _encoder_layers(model)
    if layers is None:
        raise ValueError(f"layer_choice: {type(model.base_model).__name__} has no encoder.layer to choose from")
    model.base_model.encoder.layer = torch.nn.ModuleList(layers[i] for i in keep)
    model.config.num_hidden_layers = len(keep)


def _teacher_probs(teacher: str, texts: Sequence[str], tags: Sequence[str]) -> np.ndarray:
    from training.scoring import load_scorer

    scorer = load_scorer(teacher)
    if list(scorer.tags) != list(tags):
        raise ValueError(f"teacher {teacher}: tags {list(scorer.tags)} differ from the schema's {list(tags)}")
    return np.asarray(scorer.predict_proba(list(texts)), dtype=np.float32)


def _freeze_lower_layers(model: Any, n: int) -> None:
    """Stop gradients at the embeddings and the first `n` encoder layers (BERT-style backbones)."""
    if not n:
        return
    layers = _encoder_layers(model)
    if layers is None or not hasattr(model.base_model, "embeddings"):
        raise ValueError(f"freeze_layers: {type(model.base_model).__name__} has no embeddings + encoder.layer to freeze")
    if n > len(layers):
        raise ValueError(f"freeze_layers: {n} asked, but the model has {len(layers)} layers")
    for module in (model.base_model.embeddings, *layers[:n]):
        module.requires_grad_(False)


def _fit(
    train: Any, validation: Any, tags: list[str], cfg: FinetuneConfig, backbone_dir: Path, use_cpu: bool,
    build_dir: Path, out_dir: Path, on_epoch: EpochHook | None,
) -> TrainResult:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    with quiet_transformers(), _torch_threads(cfg.num_threads if use_cpu else None):
        # A student starts from its teacher: num_layers of its layers (layer_choice) and the head.
        init_dir = Path(cfg.teacher) / HF_SUBDIR if cfg.teacher else backbone_dir
        tokenizer = AutoTokenizer.from_pretrained(init_dir)
        soft = _teacher_probs(cfg.teacher, train["text"], tags) if cfg.teacher else None
        train_ds = _tokenize(train, tags, tokenizer, cfg.max_length, soft, cfg.distill_weight,
                             smoothing=cfg.label_smoothing)
        val_ds = _tokenize(validation, tags, tokenizer, cfg.max_length, by_length=True)
        set_seed(cfg.seed)  # before the head is created: its random init is part of the run
        load_kwargs, keep = _layer_plan(init_dir, cfg.num_layers, cfg.layer_choice)
        model = AutoModelForSequenceClassification.from_pretrained(
            init_dir,
            **load_kwargs,
            num_labels=len(tags),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
        )
        _keep_layers(model, keep)
        if cfg.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        _freeze_lower_layers(model, cfg.freeze_layers)
        tracker = EpochTracker(cfg.patience, on_epoch)
        trainer = build_trainer(model, tokenizer, train_ds, val_ds, cfg, build_dir, use_cpu, tracker)
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started
        tracker.restore_best(model)
        # The restored weights' validation output was kept at their epoch's evaluation; labels come
        # from that same output (the eval sampler may reorder), never from val_ds's own order.
        if tracker.best_eval is None:
            predicted = trainer.predict(val_ds)
            tracker.best_eval = (np.asarray(predicted.label_ids), np.asarray(predicted.predictions))
    val_labels, val_logits = tracker.best_eval
    probs = sigmoid(np.asarray(val_logits, dtype=np.float64))
    thresholds = tune_thresholds(val_labels, probs)
    params = {
        **cfg.model_dump(),
        "best_epoch": tracker.best_epoch,
        "epochs_run": len(tracker.history),
        "best_val_macro_f1": tracker.best_f1,
        "thresholds": {t: float(x) for t, x in zip(tags, thresholds)},
        "device": "cpu" if use_cpu else "cuda",
    }
    if trainer.is_world_process_zero():  # under torchrun only rank 0 writes
        with quiet_transformers():
            params.update(_write_model_dir(model, tokenizer, params["thresholds"], build_dir, out_dir, cfg, validation["text"]))
    return TrainResult(
        model_dir=out_dir,
        history=tracker.history,
        params=params,
        train_seconds=train_seconds,
        sentences_per_second=len(train_ds) * len(tracker.history) / max(train_seconds, 1e-9),
    )


def _write_model_dir(
    model: Any, tokenizer: Any, thresholds: dict[str, float], build_dir: Path, out_dir: Path, cfg: FinetuneConfig,
    probe: Sequence[str],
) -> dict[str, Any]:
    """Save hf/, the ONNX graph and meta.json into `build_dir`, then swap it into place."""
    from training.onnx_export import ONNX_FILES, export_onnx

    meta = {
        "kind": "transformer",
        "tags": list(thresholds),
        "thresholds": thresholds,
        "preprocess_version": PREPROCESS_VERSION,
        "backbone": cfg.backbone,
        "max_length": cfg.max_length,
    }
    extra: dict[str, Any] = {}
    shutil.rmtree(build_dir / "trainer", ignore_errors=True)
    model.to("cpu").save_pretrained(build_dir / HF_SUBDIR)
    tokenizer.save_pretrained(build_dir / HF_SUBDIR)
    if cfg.export_onnx:
        report = export_onnx(
            build_dir / HF_SUBDIR, build_dir / ONNX_FILES[cfg.quantize], cfg.quantize,
            probe_texts=list(probe)[:256], max_length=cfg.max_length,
        )
        meta["onnx"] = report["meta"]
        extra["onnx_max_abs_diff"] = report["max_abs_diff"]
    # meta.json last: a directory with meta.json is a complete model directory.
    with atomic_open(build_dir / "meta.json") as fh:
        json.dump(meta, fh, indent=2)
    replace_dir(build_dir, out_dir)
    return extra
