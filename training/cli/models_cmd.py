"""`stance models promote|export|list` and `stance evaluate MODEL_URI LABELED`."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labeling.config import CONFIG_DIR, load_config

TrackingOpt = typer.Option(None, "--tracking-uri", help="MLflow store; default MLFLOW_TRACKING_URI or data/mlflow/mlflow.db.")


def _store(tracking_uri: Optional[str]) -> str:
    from training import tracking

    tcfg = load_config(tracking.TrackingConfig, CONFIG_DIR / "tracking.yaml")
    uri = tracking.resolve_tracking_uri(tracking_uri, tcfg)
    tracking.check_reachable(uri)
    return uri


def promote(
    name: str = typer.Argument(..., help="Registered model name, e.g. stance-baseline."),
    version: str = typer.Argument(..., help="Version number to point the alias at."),
    alias: str = typer.Option("champion", "--alias", help="Alias to move."),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Move an alias (default champion) to a model version: models:/NAME@ALIAS then loads it."""
    from training import tracking
    from training.cli.train_cmd import user_errors

    console = Console()
    with user_errors(console):
        tracking.promote(_store(tracking_uri), name, version, alias)
    console.print(f"models:/{name}@{alias} -> version {version}")


def export(
    uri: str = typer.Argument(..., help="models:/NAME@alias, models:/NAME/VERSION or runs:/RUN_ID/model."),
    out: Path = typer.Option(..., "--out", help="Target directory, e.g. models/stance-baseline (replaced)."),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Copy a registered model out of MLflow as a self-contained MLflow model directory."""
    from training import tracking
    from training.cli.train_cmd import user_errors
    from training.model_loading import load_model

    console = Console()
    with user_errors(console):
        store = _store(tracking_uri)
        tracking.download_model(uri, out, store)
        loaded = load_model(str(out), store)  # proves the export loads before we say so
    console.print(f"exported {uri} to [bold]{out}[/] ({loaded.scorer.kind}, tags {', '.join(loaded.scorer.tags)})")


def list_models(tracking_uri: Optional[str] = TrackingOpt) -> None:
    """Registered models, versions, aliases and the runs that produced them."""
    from training import tracking
    from training.cli.train_cmd import user_errors

    console = Console()
    with user_errors(console):
        rows = tracking.list_models(_store(tracking_uri))
    table = Table(title="registered models")
    for col in ("name", "version", "aliases", "run", "created (UTC)"):
        table.add_column(col)
    for r in rows:
        created = datetime.fromtimestamp(r["created"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        table.add_row(r["name"], r["version"], ", ".join(r["aliases"]), r["run_id"] or "", created)
    console.print(table if rows else "no registered models yet: run `stance train baseline ...`")


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
    from training.cli.train_cmd import _result_table, user_errors
    from training.evaluate import evaluate_scorer, evaluate_slices, slice_key
    from training.labeled import load_labeled
    from training.metrics import flatten_metrics
    from training.model_loading import load_model

    console = Console()
    with user_errors(console):
        store = tracking.resolve_tracking_uri(tracking_uri)
        loaded = load_model(model_uri, store)
        keep = sorted({slice_key(b)[0] for b in by})
        rows = load_labeled(labeled, loaded.scorer.tags, keep=keep)
        metrics, figures = evaluate_scorer(loaded.scorer, rows, n_boot=bootstrap)
        sliced = {b: evaluate_slices(loaded.scorer, rows, b, n_boot=bootstrap) for b in by}
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
    console.print(_result_table({"test": metrics}))
    for b, slices in sliced.items():
        console.print(_slice_table(b, slices, loaded.scorer.tags))
    who = f"{loaded.name or model_uri}" + (f" v{loaded.version}" if loaded.version else "")
    console.print(f"model {who} ({loaded.scorer.kind}) on {labeled}: macro-F1 {metrics['macro_f1']:.3f} "
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
    """Add `models promote|export|list` and `evaluate`."""
    models_app = typer.Typer(help="The MLflow model registry: list, promote, export.", no_args_is_help=True)
    models_app.command("promote")(promote)
    models_app.command("export")(export)
    models_app.command("list")(list_models)
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate)
