"""`stance train baseline|finetune|distil`: train a model, track the run in MLflow, register the model.

Commands validate everything (labeled rows, config, tracking store, backbone) before any
training starts; user errors print one red line and exit 2.
"""
from __future__ import annotations

import contextlib
import os
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from labeling.config import CONFIG_DIR, DEFAULT_SEED, load_config
from labeling.schema import load_schema
from training.cli.common import TrackingOpt, config_opt, metrics_table, tracking_config, user_errors

CONFIG_FILES = {"baseline": "baseline.yaml", "finetune": "finetune.yaml", "distil": "distill.yaml"}

SourceArg = typer.Argument(..., help="Dataset directory (stance dataset build), labeled JSONL or snapshot.")
KeepOpt = typer.Option(None, "--keep", help="Also keep the raw model directory here (must not exist).")
SeedOpt = typer.Option(None, "--seed", help="Override the seed.")
EpochsOpt = typer.Option(None, "--epochs", help="Maximum epochs (early stopping may end sooner).")


def _register_as(default: str) -> Any:
    return typer.Option(None, "--register-as", help=f"Registered model name (default {default}).")


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    if "test" in summary or "validation" in summary:
        console.print(metrics_table(summary))
    console.print(f"run [bold]{summary['run_id']}[/]  data {summary['fingerprint']}  sizes {summary['sizes']}")
    console.print(f"trained in {summary['train_seconds']:.1f} s ({summary['sentences_per_second']:.0f} sentences/s)"
                  f"  params {({k: v for k, v in summary['params'].items() if k != 'thresholds'})}")
    if summary.get("version"):
        console.print(Text.assemble("registered ", (f"models:/{summary['name']}/{summary['version']}", "bold"),
                                    f"; promote with `stance models promote {summary['name']} {summary['version']} "
                                    "--alias champion`"))


def _print_cv(console: Console, outcome: dict[str, Any], tags: list[str]) -> None:
    table = Table(title=f"grouped {outcome['k']}-fold cross-validation (run {outcome['run_id']})")
    for col in ("metric", "mean", "std", "min", "max"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    names = ["macro_f1", "micro_f1"] + [f"f1_{t}" for t in tags]
    for name in names:
        if name in outcome["summary"]:
            s = outcome["summary"][name]
            table.add_row(name, *(f"{s[k]:.3f}" for k in ("mean", "std", "min", "max")))
    console.print(table)


def _resolve_teacher(teacher: str, uri: str) -> tuple[str, dict[str, str]]:
    """The teacher's local model directory and run tags naming where it came from."""
    from training.registry import load_model

    loaded = load_model(teacher, uri)
    if loaded.scorer.kind != "transformer":
        raise ValueError(f"teacher {teacher!r} is a {loaded.scorer.kind} model; distillation needs a fine-tuned transformer")
    tags = {"teacher_uri": teacher, "teacher_model": f"{loaded.name}/{loaded.version}" if loaded.version else "",
            "teacher_run_id": loaded.run_id or ""}
    return str(loaded.scorer.model_dir), {k: v for k, v in tags.items() if v}


def _train(kind: str, source: Path, config: Optional[Path], overrides: dict[str, Any], tracking_uri: Optional[str],
           register_as: Optional[str], keep: Optional[Path], cv: Optional[int]) -> None:
    from training import tracking
    from training.dataset import DatasetConfig, summarize
    from training.train import cross_validate_tracked, prepare_splits, train_tracked

    console = Console()
    with user_errors(console):
        tags = load_schema().names
        tcfg = tracking_config()
        if kind == "baseline":
            from training.baseline import BaselineConfig as cfg_cls
        else:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local packages only
            from training.finetune import FinetuneConfig as cfg_cls
        uri = tracking.resolve_tracking_uri(tracking_uri, tcfg)
        run_tags: dict[str, str] = {}
        if kind == "distil":
            overrides["teacher"], run_tags = _resolve_teacher(overrides["teacher"], uri)
        cfg = load_config(cfg_cls, config, overrides, default=CONFIG_DIR / CONFIG_FILES[kind])  # validates the backbone path too
        splits, meta = prepare_splits(source, tags, load_config(DatasetConfig, default=CONFIG_DIR / "dataset.yaml"))
        tracking.check_reachable(uri)
        name = register_as or {"baseline": tcfg.baseline_model_name, "finetune": tcfg.finetune_model_name,
                               "distil": tcfg.distilled_model_name}[kind]
        if cv:
            rows = [r for part in splits.values() for r in part]
            all_meta = summarize({"all": rows}, tags, load_config(DatasetConfig, default=CONFIG_DIR / "dataset.yaml"), meta["source"])
            with console.status(f"{cv}-fold cross-validation of the {kind}..."):
                outcome = cross_validate_tracked(kind, rows, all_meta, tags, cfg, cv, getattr(cfg, "seed", DEFAULT_SEED), uri, tcfg,
                                                 on_fold=lambda f, m: console.print(f"fold {f}: macro-F1 {m['macro_f1']:.3f}"))
            _print_cv(console, outcome, tags)
            return
        console.print(f"training {kind} on {meta['sizes']} (data {meta['fingerprint']}), tracking at {uri}", markup=False)

        def show_epoch(entry: dict[str, Any]) -> None:
            console.print("  " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))

        # the fine-tuning draws its own per-epoch progress bar; a spinner on top would garble it
        status = console.status(f"training the {kind}...") if kind == "baseline" else contextlib.nullcontext()
        with status:
            summary = train_tracked(kind, splits, meta, tags, cfg, uri, tcfg, name, keep, on_epoch=show_epoch,
                                    run_tags=run_tags)
    _print_summary(console, summary)


def train_baseline_command(
    source: Path = SourceArg,
    config: Optional[Path] = config_opt("Baseline hyper-parameters", "baseline.yaml"),
    tracking_uri: Optional[str] = TrackingOpt,
    register_as: Optional[str] = _register_as("stance-baseline"),
    keep: Optional[Path] = typer.Option(None, "--keep", help="Also keep the raw model directory here."),
    cv: Optional[int] = typer.Option(None, "--cv", min=2, help="Grouped K-fold instead: mean and spread per metric."),
    seed: Optional[int] = SeedOpt,
) -> None:
    """TF-IDF word + char n-grams into one-vs-rest logistic regression; C chosen by grouped CV."""
    _train("baseline", source, config, {"seed": seed}, tracking_uri, register_as, keep, cv)


def train_finetune_command(
    source: Path = SourceArg,
    config: Optional[Path] = config_opt("Fine-tuning hyper-parameters", "finetune.yaml"),
    tracking_uri: Optional[str] = TrackingOpt,
    register_as: Optional[str] = _register_as("stance-finetune"),
    keep: Optional[Path] = KeepOpt,
    cv: Optional[int] = typer.Option(None, "--cv", min=2, help="Grouped K-fold instead: mean and spread per metric."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Local model directory or cached hub name."),
    epochs: Optional[int] = EpochsOpt,
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Token limit per sentence."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Training batch size."),
    seed: Optional[int] = SeedOpt,
    num_layers: Optional[int] = typer.Option(
        None, "--num-layers", min=1,
        help=("Keep only the backbone's first N layers: faster scoring, lower quality (docs/benchmarks.md); "
              "`stance train distil` makes a small model that keeps the quality.")),
    freeze_layers: Optional[int] = typer.Option(
        None, "--freeze-layers", min=0,
        help="Freeze the embeddings and the backbone's first N layers: cheaper training steps, same scoring cost."),
    label_smoothing: Optional[float] = typer.Option(
        None, "--label-smoothing", min=0, max=0.49,
        help="Train on targets eps/2 and 1 - eps/2 instead of 0 and 1 (e.g. 0.1); validation stays 0/1. Default off."),
    layer_lr_decay: Optional[float] = typer.Option(
        None, "--layer-lr-decay", min=0.01, max=1,
        help=("Layer-wise learning-rate decay: each layer below the head learns at this factor times the one "
              "above (e.g. 0.8); 1 = one rate for all.")),
) -> None:
    """Fine-tune a transformer (default all-MiniLM-L6-v2) for multi-label stance."""
    overrides = {"backbone": backbone, "epochs": epochs, "max_length": max_length, "batch_size": batch_size, "seed": seed,
                 "num_layers": num_layers, "freeze_layers": freeze_layers, "label_smoothing": label_smoothing,
                 "layer_lr_decay": layer_lr_decay}
    _train("finetune", source, config, overrides, tracking_uri, register_as, keep, cv)


class LayerChoice(str, Enum):
    spread = "spread"
    first = "first"


def train_distil_command(
    source: Path = SourceArg,
    teacher: str = typer.Option(..., "--teacher", help=(
        "The fine-tuned transformer to learn from: models:/NAME@alias, models:/NAME/VERSION, runs:/RUN_ID/model "
        "or a model directory.")),
    config: Optional[Path] = config_opt("Student hyper-parameters", "distill.yaml"),
    tracking_uri: Optional[str] = TrackingOpt,
    register_as: Optional[str] = _register_as("stance-distilled"),
    keep: Optional[Path] = KeepOpt,
    num_layers: Optional[int] = typer.Option(None, "--num-layers", min=1, help="Layers the student keeps (configs/distill.yaml: 4 of 6)."),
    layer_choice: Optional[LayerChoice] = typer.Option(None, "--layer-choice", help=(
        "Which of the teacher's layers: spread (evenly from the first to the last, 4 of 6: 0, 2, 3, 5; "
        "configs/distill.yaml's choice) or first.")),
    weight: Optional[float] = typer.Option(None, "--weight", min=0, max=1, help=(
        "Share of the teacher's probabilities in the training targets (default 0.5; the rest is the gold label).")),
    epochs: Optional[int] = EpochsOpt,
    seed: Optional[int] = SeedOpt,
) -> None:
    """Distil a smaller, faster transformer from a fine-tuned one, for large scoring jobs.

    The student starts from --num-layers of the teacher's layers and its head.

    It learns targets that blend the teacher's probabilities with the gold labels.

    Fewer layers score faster; docs/benchmarks.md has speed and quality side by side.
    """
    overrides = {"teacher": teacher, "num_layers": num_layers, "layer_choice": layer_choice and layer_choice.value,
                 "distill_weight": weight, "epochs": epochs, "seed": seed}
    _train("distil", source, config, overrides, tracking_uri, register_as, keep, None)


def register(app: typer.Typer) -> None:
    """Add `train baseline|finetune|distil` to the top-level app."""
    train_app = typer.Typer(help="Train a model, log it to MLflow and register it.", no_args_is_help=True)
    train_app.command("baseline")(train_baseline_command)
    train_app.command("finetune")(train_finetune_command)
    train_app.command("distil")(train_distil_command)
    app.add_typer(train_app, name="train")
