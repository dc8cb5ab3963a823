"""`stance evaluate MODEL_URI LABELED`: score a labeled file with a model, optionally log to its run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from training.cli.common import TrackingOpt, metrics_table, store_uri, user_errors


def evaluate(
    model_uri: str = typer.Argument(..., help="models:/NAME@alias, models:/NAME/VERSION, runs:/..., or a model directory."),
    labeled: Path = typer.Argument(..., help="Labeled JSONL or snapshot directory to score."),
    log_to_run: bool = typer.Option(False, "--log-to-run", help="Log the metrics and plots to the model's MLflow run."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples for the 95% intervals."),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Score a labeled file with a model: per-tag P/R/F1/PR-AUC, micro/macro F1 with 95% intervals."""
    from training import tracking
    from training.evaluate import evaluate_scorer
    from training.labeled import load_labeled
    from training.metrics import flatten_metrics
    from training.registry import load_model

    console = Console()
    with user_errors(console):
        store = store_uri(tracking_uri, check=False)
        loaded = load_model(model_uri, store)
        rows = load_labeled(labeled, loaded.scorer.tags)
        metrics, figures = evaluate_scorer(loaded.scorer, rows, n_boot=bootstrap)
        if log_to_run:
            if not loaded.run_id:
                raise ValueError(f"{model_uri} has no MLflow run to log to; use a models:/ or runs:/ URI")
            prefix = f"eval_{Path(labeled).stem}_"
            tracking.log_to_existing_run(store, loaded.run_id, flatten_metrics(metrics, prefix),
                                         {f"plots/{prefix}{k}": v for k, v in figures.items()})
    console.print(metrics_table({"test": metrics}))
    who = f"{loaded.name or model_uri}" + (f" v{loaded.version}" if loaded.version else "")
    console.print(f"model {who} ({loaded.scorer.kind}) on {labeled}: macro-F1 {metrics['macro_f1']:.3f} "
                  f"[{metrics['macro_f1_low']:.3f}, {metrics['macro_f1_high']:.3f}]")
    if log_to_run:
        console.print(f"logged to run {loaded.run_id}")


def register(app: typer.Typer) -> None:
    """Add `evaluate` to the top-level app."""
    app.command("evaluate")(evaluate)
