"""`stance demo`: the main job on the shipped sample data (what `make demo` runs)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labeling.config import CONFIG_DIR, PROJECT_ROOT, ConfigError, load_config
from labeling.io import read_jsonl
from training.cli.common import EXIT_FAILED, EXIT_USAGE, config_opt, fail


def register(app: typer.Typer) -> None:
    """Add `demo` to the top-level app."""
    app.command("demo")(demo)


def _headlines(predictions: Path) -> dict[str, str]:
    """article_id -> its first sentence (the headline), from the per-sentence predictions."""
    first: dict[str, tuple[int, str]] = {}
    for _, row in read_jsonl(predictions):
        index = row.get("index", 0)
        if row["article_id"] not in first or index < first[row["article_id"]][0]:
            first[row["article_id"]] = (index, row["text"])
    return {k: v[1] for k, v in first.items()}


def _summary_table(summary: list[dict], headlines: dict[str, str], tags: list[str]) -> Table:
    table = Table(title="Held-out articles scored by the champion")
    table.add_column("article (headline)", max_width=44, no_wrap=True, overflow="ellipsis")
    table.add_column("sentences", justify="right", min_width=9)
    for tag in tags:
        table.add_column(tag, justify="right", min_width=len(tag))
    table.add_column("dominant", min_width=13)
    for row in summary:
        title = headlines.get(row["article_id"], row["article_id"])
        table.add_row(escape(title[:90]), str(row["sentences"]),
                      *(f"{row[f'count_{t}']} ({row[f'share_{t}']:.0%})" for t in tags), row["dominant"] or "-")
    return table


def _champion_table(candidates: list[dict], champion: dict) -> Table:
    table = Table(title="Candidates (champion chosen on validation macro-F1; test reported)")
    for col in ("model", "registered", "val macro-F1", "test macro-F1", ""):
        table.add_column(col)
    for c in candidates:
        table.add_row(c["kind"], f"{c['name']} v{c['version']}", f"{c['val_macro_f1']:.3f}",
                      f"{c['test_macro_f1']:.3f}", "[bold green]@champion[/]" if c is champion else "")
    return table


def demo(
    config: Optional[Path] = config_opt("Demo paths and sizes", "demo.yaml"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Fine-tuning epochs (default: configs/demo.yaml, then configs/finetune.yaml)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow store; default the project's SQLite store."),
) -> None:
    """Run the whole loop on the shipped sample data: ingest, Label Studio tasks (file mode),
    dataset, baseline and fine-tuned model tracked in MLflow, champion, export, scoring.

    Running it again adds new runs and model versions; outputs under data/demo/ are replaced.
    """
    from labeling.schema import load_schema
    from training.demo import DemoConfig, read_summary, run_demo

    probe = Console()
    # logs and CI are not terminals: rich would fall back to 80 columns and fold every table
    console = probe if probe.is_terminal else Console(width=130)
    try:
        cfg = load_config(DemoConfig, config, {"finetune_epochs": epochs, "tracking_uri": tracking_uri},
                          default=CONFIG_DIR / "demo.yaml")
    except ConfigError as exc:
        raise fail(console, exc, EXIT_USAGE) from None

    def announce(number: int, total: int, step) -> None:
        console.rule(f"[bold]{number}/{total} {step.title}")
        console.print(f"[dim]$ stance {escape(' '.join(step.args))}[/]", soft_wrap=True, highlight=False)

    try:
        result = run_demo(cfg, PROJECT_ROOT, announce)
    except (RuntimeError, LookupError) as exc:
        console.print(f"[red]demo failed:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    tags = load_schema().names
    console.rule("[bold]Demo summary")
    console.print(_champion_table(result.candidates, result.champion))
    p = {k: PROJECT_ROOT / v for k, v in result.paths.items()}
    console.print(_summary_table(read_summary(p["summary"]), _headlines(p["predictions"]), tags))
    steps = Table(title="Steps", show_header=False)
    for step in result.steps:
        steps.add_row(step.title, f"{step.seconds:.0f} s")
    steps.add_row("[bold]total", f"[bold]{sum(s.seconds for s in result.steps):.0f} s")
    console.print(steps)
    rel = result.paths  # relative to the project root, as the commands printed them
    console.print(
        f"Sentences: {rel['sentences']}   Label Studio import file: {rel['tasks']}\n"
        f"Predictions: {rel['predictions']}   per-article summary: {rel['summary']}\n"
        f"Champion model: {rel['model']}  (also models:/{result.champion['name']}@champion)\n"
        f"Runs report with the per-tag F1 plot: {rel['report']}\n"
        "Plots per run (PR curves, per-tag matrix, training curves): MLflow artifacts under data/mlflow/artifacts/\n"
        "MLflow UI: `make mlflow-ui`, then open the address it prints (the runs table)", soft_wrap=True, highlight=False)
