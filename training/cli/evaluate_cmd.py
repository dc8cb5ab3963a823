"""`stance evaluate MODEL_URI LABELED`: score a labeled file with a model, optionally log to its run."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from training.cli.common import TrackingOpt, metrics_table, store_uri, user_errors


def evaluate(
    model_uri: str = typer.Argument(..., help="models:/NAME@alias, models:/NAME/VERSION, runs:/..., or a model directory."),
    labeled: Path = typer.Argument(..., help="Labeled JSONL or snapshot directory to score."),
    log_to_run: bool = typer.Option(False, "--log-to-run", help="Log the metrics and plots to the model's MLflow run."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples for the 95% intervals."),
    by: list[str] = typer.Option([], "--by", help=(
        "Also report each slice of a field of the labeled rows: a field name (kind, source, register...), "
        "FIELD:prefix for the part before the first '-' (article_id:prefix), or file (one slice per *.jsonl "
        "of a folder). Repeat for several fields.")),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Score a labeled file with a model: per-tag P/R/F1/PR-AUC, micro/macro F1 with 95% intervals.

    With --by, also macro-F1, exact match and per-tag F1 for each slice, to see where a model fails:
    `stance evaluate models/champion data/my-labeled/ --by file --by kind`.
    """
    from training import tracking
    from training.evaluate import evaluate_scorer, evaluate_slices, slice_key
    from training.labeled import load_labeled
    from training.metrics import flatten_metrics
    from training.registry import load_model

    console = Console()
    with user_errors(console):
        store = store_uri(tracking_uri, check=False)
        loaded = load_model(model_uri, store)
        keep = sorted({slice_key(b)[0] for b in by})
        rows = load_labeled(labeled, loaded.scorer.tags, keep=keep)
        probs = loaded.scorer.predict_proba([r["text"] for r in rows])  # scored once for every table
        metrics, figures = evaluate_scorer(loaded.scorer, rows, n_boot=bootstrap, probs=probs)
        sliced = {b: evaluate_slices(loaded.scorer, rows, b, n_boot=bootstrap, probs=probs) for b in by}
        if log_to_run:
            if not loaded.run_id:
                raise ValueError(f"{model_uri} has no MLflow run to log to; use a models:/ or runs:/ URI")
            prefix = f"eval_{Path(labeled).stem}_"
            flat = flatten_metrics(metrics, prefix)
            for b, slices in sliced.items():
                for name, m in slices.items():
                    if name != "(all)":
                        flat.update(flatten_metrics(m, f"{prefix}{_metric_name(b)}_{_metric_name(name)}_"))
            tracking.log_to_existing_run(store, loaded.run_id, flat,
                                         {f"plots/{prefix}{k}": v for k, v in figures.items()})
    console.print(metrics_table({"test": metrics}))
    for b, slices in sliced.items():
        console.print(_slice_table(b, slices, loaded.scorer.tags))
    who = f"{loaded.name or model_uri}" + (f" v{loaded.version}" if loaded.version else "")
    console.print(f"model {escape(who)} ({loaded.scorer.kind}) on {escape(str(labeled))}: macro-F1 {metrics['macro_f1']:.3f} "
                  f"[{metrics['macro_f1_low']:.3f}, {metrics['macro_f1_high']:.3f}]")
    if log_to_run:
        console.print(f"logged to run {loaded.run_id}")


def _metric_name(text: str) -> str:
    """A slice or field name as MLflow accepts it in a metric key."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text).strip("_") or "none"


def _slice_table(by: str, slices: dict[str, dict[str, Any]], tags: list[str]) -> Table:
    table = Table(title=f"by {by}")
    for col in ("slice", "n", "macro-F1 [95% CI]", "exact", *tags):
        table.add_column(col, justify="left" if col == "slice" else "right")
    for name, m in slices.items():
        if name == "(all)":
            table.add_section()
        cells = [f"{m['per_tag'][t]['f1']:.3f}" if m["per_tag"][t]["support"] else "-" for t in tags]
        table.add_row(escape(name), str(m["n"]), f"{m['macro_f1']:.3f} [{m['macro_f1_low']:.3f}, {m['macro_f1_high']:.3f}]",
                      f"{m['exact_match']:.3f}", *cells)
    return table


def register(app: typer.Typer) -> None:
    """Add `evaluate` to the top-level app."""
    app.command("evaluate")(evaluate)
