"""`stance runs compare` (terminal table) and `stance runs report --out report.html`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from training.cli.common import TrackingOpt, store_uri, tracking_config, user_errors


def _rows(tracking_uri: Optional[str], experiment: Optional[str], limit: int) -> tuple[list[dict], list[str]]:
    from labeling.schema import load_schema
    from training import tracking
    from training.runs import compare_rows, mark_gone_runs

    tcfg = tracking_config()
    uri = store_uri(tracking_uri)
    tags = load_schema().names
    return compare_rows(mark_gone_runs(tracking.search_runs(uri, experiment or tcfg.experiment, limit)), tags), tags


def compare(
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: Optional[str] = typer.Option(None, "--experiment", help="MLflow experiment (default from configs/tracking.yaml)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest runs to show."),
) -> None:
    """Runs side by side: model, data fingerprint, macro-F1 with interval, per-tag F1, train time."""
    from training.runs import fmt

    console = Console()
    with user_errors(console):
        rows, tags = _rows(tracking_uri, experiment, limit)
    if not rows:
        console.print("no runs yet: run `stance train baseline ...`")
        return
    table = Table(title="runs (test split; K-fold: mean +- std)")
    for col in ["run", "model", "data", "macro-F1 [95% CI]", *tags, "train s", "status"]:
        table.add_column(col, justify="left" if col in ("run", "model", "data", "status") else "right")
    for r in rows:
        table.add_row(f"{r['run']}\n{r['run_id'][:8]}", r["model"] + (f"\n{r['registered']}" if r["registered"] else ""),
                      r["data"], f"{fmt(r['macro_f1'])} [{fmt(r['macro_f1_low'])}, {fmt(r['macro_f1_high'])}]",
                      *(fmt(r[f"f1_{t}"]) for t in tags), fmt(r["train_seconds"], 1), r["status"])
    console.print(table)


def report(
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write (atomically)."),
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: Optional[str] = typer.Option(None, "--experiment", help="MLflow experiment (default from configs/tracking.yaml)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest runs to include."),
) -> None:
    """Write a self-contained HTML report: run table and a per-tag F1 plot across runs."""
    from labeling.io import atomic_open
    from training.runs import html_report

    console = Console()
    with user_errors(console):
        rows, tags = _rows(tracking_uri, experiment, limit)
        if not rows:
            raise ValueError("no runs to report: run `stance train baseline ...` first")
        with atomic_open(out) as fh:
            fh.write(html_report(rows, tags))
    console.print(f"wrote {out} ({len(rows)} runs)", markup=False)  # a path is data, not markup


def register(app: typer.Typer) -> None:
    """Add `runs compare` and `runs report`."""
    runs_app = typer.Typer(help="Compare MLflow runs.", no_args_is_help=True)
    runs_app.command("compare")(compare)
    runs_app.command("report")(report)
    app.add_typer(runs_app, name="runs")
