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
    from training import registry, tracking
    from training.runs import compare_rows, mark_gone_runs

    tcfg = tracking_config()
    uri = store_uri(tracking_uri)
    tags = load_schema().names
    runs = mark_gone_runs(tracking.search_runs(uri, experiment or tcfg.experiment, limit))
    aliases = {f"{m['name']}/{m['version']}": m["aliases"] for m in registry.list_models(uri) if m["aliases"]} if runs else {}
    return compare_rows(runs, tags, aliases), tags


def compare(
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: Optional[str] = typer.Option(None, "--experiment", help="MLflow experiment (default from configs/tracking.yaml)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest runs to show."),
) -> None:
    """Runs side by side, fitted to the terminal: model with registered version and aliases
    (@champion), validation macro-F1 (the champion is chosen on it), test macro-F1 with its 95%
    interval, per-tag test F1, then status, start, data fingerprint and train time as width allows.
    Narrower than the essential columns: one block per run."""
    from rich import box

    from training.runs import CHAMPION_MARK, compare_layout, compare_vertical, short_tag

    console = Console()
    with user_errors(console):
        rows, tags = _rows(tracking_uri, experiment, limit)
    if not rows:
        console.print("no runs yet: run `stance train baseline ...`")
        return
    kinds = {r["cv"] for r in rows}
    what = ("test split; K-fold runs: fold mean, interval +- 1 std" if kinds == {True, False}
            else "K-fold: fold mean, interval +- 1 std" if kinds == {True} else "test split, 95% bootstrap interval")
    legend = ", ".join(f"{short_tag(t)} = {t}" for t in tags) + f"; {CHAMPION_MARK} = @champion"
    layout = compare_layout(rows, tags, console.width)
    if layout is None:
        console.print(f"runs, newest first ({what}; F1 per tag: {legend})", soft_wrap=True)
        for line in compare_vertical(rows, tags):
            console.print(line, highlight=False, soft_wrap=True)
        return
    headers, cells = layout
    table = Table(title=f"runs, newest first ({what})", caption=f"F1 per tag on the same data: {legend}"
                  if short_tag(tags[0]) in headers else f"{CHAMPION_MARK} = @champion",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for h in headers:
        table.add_column(h, justify="left" if h in ("run", "model", "status", "data", "started", "name") else "right",
                         no_wrap=True)
    for row in cells:
        table.add_row(*row)
    console.print(table)


def report(
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write (atomically)."),
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: Optional[str] = typer.Option(None, "--experiment", help="MLflow experiment (default from configs/tracking.yaml)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest runs to include."),
    png: Optional[Path] = typer.Option(None, "--png", help="Also write the plot alone as a PNG (e.g. for a README)."),
) -> None:
    """Write a self-contained HTML report: run table (champion in bold) and per-tag F1 across runs
    with 95% intervals as error bars, plus each run's scores on other labeled files when
    `stance evaluate --log-to-run` added them."""
    from labeling.io import atomic_open
    from training.plots import png_bytes
    from training.runs import html_report, report_figure

    console = Console()
    with user_errors(console):
        rows, tags = _rows(tracking_uri, experiment, limit)
        if not rows:
            raise ValueError("no runs to report: run `stance train baseline ...` first")
        with atomic_open(out) as fh:
            fh.write(html_report(rows, tags))
        if png is not None:
            with atomic_open(png, "wb") as fh:
                fh.write(png_bytes(report_figure(rows, tags)))
    console.print(f"wrote {out} ({len(rows)} runs)", markup=False)  # a path is data, not markup


def ui(
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: Optional[str] = typer.Option(None, "--experiment", help="MLflow experiment (default from configs/tracking.yaml)."),
    port: int = typer.Option(5000, "--port", help="Port on 127.0.0.1."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server worker processes (one serves one person well)."),
) -> None:
    """Start the MLflow UI on the project's store, lean (1 worker, no GenAI job runners), and print
    the address that opens on the runs table with the headline metrics as columns. Ctrl-C stops it."""
    import os
    import subprocess
    import sys

    from labeling.schema import load_schema
    from training import tracking

    console = Console()
    with user_errors(console):
        uri = store_uri(tracking_uri)
        if uri.startswith(("http://", "https://")):
            raise ValueError(f"{uri} is already a tracking server: open it in a browser")
        exp_id = tracking.ensure_runs_view(uri, experiment or tracking_config().experiment, load_schema().names)
    cmd = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "ui", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if uri.startswith("sqlite:///"):
        cmd += ["--default-artifact-root", tracking.artifact_root(uri)]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # GenAI job runners: not used here
    console.print(f"MLflow UI on {uri}\nopen [bold]{tracking.runs_view_url(f'http://127.0.0.1:{port}', exp_id)}[/]"
                  "\n(stop with Ctrl-C)", soft_wrap=True)
    try:
        code = subprocess.run(cmd, env=env).returncode
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `runs compare`, `runs report` and `runs ui`."""
    runs_app = typer.Typer(help="Compare MLflow runs.", no_args_is_help=True)
    runs_app.command("compare")(compare)
    runs_app.command("report")(report)
    runs_app.command("ui")(ui)
    app.add_typer(runs_app, name="runs")
