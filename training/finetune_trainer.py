"""The Hugging Face Trainer wiring of fine-tuning: arguments, metric, and the epoch tracker
that stops early on validation macro-F1 and keeps the best epoch's weights."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from training.metrics import micro_macro_f1
from training.thresholds import apply_thresholds, tune_thresholds
from training.transformer_scorer import sigmoid

if TYPE_CHECKING:
    from training.finetune import FinetuneConfig

EpochHook = Callable[[dict[str, Any]], None]


def macro_f1(y_true: np.ndarray, decided: np.ndarray) -> float:
    """Unweighted mean over tags of F1, leaving out a tag with no positives and no predictions
    (training.metrics.macro_from_counts); 0.0 when no tag has either, so epochs still compare."""
    macro = micro_macro_f1(y_true, decided)[1]
    return 0.0 if math.isnan(macro) else macro


def probs_macro_f1(y_true: np.ndarray, logits: np.ndarray) -> float:
    # Scored with thresholds tuned on the same data: the decision rule the saved model uses.
    probs = sigmoid(np.asarray(logits, dtype=np.float64))
    return macro_f1(y_true, apply_thresholds(probs, tune_thresholds(y_true, probs)))


class EpochTracker:
    """Trainer callback: per-epoch history, early stopping, best weights kept in memory.

    Kept in memory rather than as checkpoints: a MiniLM state dict is ~90 MB and
    writing one per epoch costs more than it saves on small data.
    """

    def __init__(self, patience: int, on_epoch: EpochHook | None):
        self.patience, self.on_epoch = patience, on_epoch
        self.history: list[dict[str, Any]] = []
        self.best_f1, self.best_epoch, self.best_state = -1.0, 0, None
        # (labels, logits) of the latest evaluation and of the best epoch's: the best one is what the
        # restored weights predict on validation, so thresholds need no second pass over it.
        self.last_eval: tuple[np.ndarray, np.ndarray] | None = None
        self.best_eval: tuple[np.ndarray, np.ndarray] | None = None
        self._best_key: tuple[float, float] = (-1.0, 0.0)
        self._epoch_started, self._bar = time.perf_counter(), None

    def callback(self, progress: bool) -> Any:
        from transformers import TrainerCallback

        tracker = self

        class _Callback(TrainerCallback):
            def on_epoch_begin(self, args, state, control, **kwargs):
                tracker._epoch_started = time.perf_counter()
                if progress and state.is_world_process_zero:
                    from tqdm.auto import tqdm

                    per_epoch = max(1, state.max_steps // max(1, int(args.num_train_epochs)))
                    tracker._bar = tqdm(total=per_epoch, desc=f"epoch {int(state.epoch) + 1}/{int(args.num_train_epochs)}", leave=False)

            def on_step_end(self, args, state, control, **kwargs):
                if tracker._bar is not None:
                    tracker._bar.update(1)

            def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
                if tracker._bar is not None:
                    tracker._bar.close()
                    tracker._bar = None
                if tracker.record(state, metrics or {}, model):
                    control.should_training_stop = True

        return _Callback()

    def record(self, state: Any, metrics: dict[str, float], model: Any) -> bool:
        """Add one epoch row; keep the weights if best; True when training should stop."""
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        row = {
            "epoch": len(self.history) + 1,
            "train_loss": float(losses[-1]) if losses else float("nan"),
            "val_loss": float(metrics.get("eval_loss", float("nan"))),
            "val_macro_f1": float(metrics.get("eval_macro_f1", 0.0)),
            "seconds": time.perf_counter() - self._epoch_started,
        }
        self.history.append(row)
        if self.on_epoch is not None and state.is_world_process_zero:
            self.on_epoch(dict(row))
        # A tie on F1 (common on small validation sets) is broken by the validation loss.
        key = (round(row["val_macro_f1"], 9), -row["val_loss"])
        if self.best_state is None or key > self._best_key:
            self.best_f1, self.best_epoch, self._best_key = row["val_macro_f1"], row["epoch"], key
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.best_eval = self.last_eval
            return False
        return self.patience > 0 and row["epoch"] - self.best_epoch >= self.patience

    def restore_best(self, model: Any) -> None:
        """Load the best epoch's weights back into `model` (unwrapped, not DDP)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def positive_weights(y: np.ndarray) -> np.ndarray:
    """sqrt(negatives / positives) per tag column of a 0/1 (or soft) matrix; 1 where a tag has no positives.

    The square root tempers the full ratio, which over-predicts a rare tag on CPU-sized data.
    """
    y = np.asarray(y, dtype=np.float64)
    pos = y.sum(axis=0)
    neg = len(y) - pos
    return np.where(pos > 0, np.sqrt(neg / np.maximum(pos, 1e-9)), 1.0).astype(np.float32)


def weighted_bce(pos_weight: np.ndarray) -> Callable[..., Any]:
    """A Trainer `compute_loss_func`: BCE with logits, positives of tag j weighted by pos_weight[j]."""
    import torch

    weight = torch.tensor(pos_weight)

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"]
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels.to(logits.dtype), pos_weight=weight.to(logits.device))

    return loss


def _layer_index(name: str) -> int | None:
    """N for a parameter of transformer layer N (`....layer.N....`), else None."""
    return int(name.split(".layer.")[1].split(".")[0]) if ".layer." in name else None


def layer_depth(name: str, layers: int) -> int:
    """How far below the classifier the parameter `name` sits: 0 for the head (and pooler), 1 for
    the last transformer layer, `layers` for the first, `layers` + 1 for the embeddings."""
    if ".embeddings." in name:
        return layers + 1
    index = _layer_index(name)
    return 0 if index is None else layers - index


def layerwise_param_groups(model: Any, learning_rate: float, decay: float, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups with layer-wise learning-rate decay: a parameter `d` layers below
    the head (layer_depth) learns at learning_rate * decay**d. Biases and LayerNorm weights get
    no weight decay, as in the Trainer's own optimizer. Frozen parameters are left out."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    layers = max((i for n, _ in named if (i := _layer_index(n)) is not None), default=-1) + 1
    groups: dict[tuple[int, bool], list[Any]] = {}
    for name, param in named:
        no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((layer_depth(name, layers), no_decay), []).append(param)
    return [{"params": params, "lr": learning_rate * decay**depth, "weight_decay": 0.0 if no_decay else weight_decay}
            for (depth, no_decay), params in sorted(groups.items())]


def build_trainer(
    model: Any, tokenizer: Any, train_ds: Any, val_ds: Any, cfg: FinetuneConfig, build_dir: Path, use_cpu: bool, tracker: EpochTracker
) -> Any:
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(build_dir / "trainer"),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of all steps
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        # Batches of similar length: padding is most of the compute on CPU.
        train_sampling_strategy="group_by_length",
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=use_cpu,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )

    def compute_metrics(pred: Any) -> dict[str, float]:
        tracker.last_eval = (np.asarray(pred.label_ids), np.asarray(pred.predictions))
        return {"macro_f1": probs_macro_f1(*tracker.last_eval)}

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        compute_loss_func=(weighted_bce(positive_weights(np.asarray(train_ds["labels"])))
                           if cfg.class_weight == "sqrt_balanced" else None),
        callbacks=[tracker.callback(cfg.progress)],
        optimizers=(_layerwise_adamw(model, cfg) if cfg.layer_lr_decay < 1 else None, None),
    )
    # With tqdm disabled the Trainer prints every log dict; our own bar and hook replace it.
    trainer.remove_callback(PrinterCallback)
    return trainer


def _layerwise_adamw(model: Any, cfg: FinetuneConfig) -> Any:
    import torch

    return torch.optim.AdamW(layerwise_param_groups(model, cfg.learning_rate, cfg.layer_lr_decay, cfg.weight_decay),
                             lr=cfg.learning_rate)
