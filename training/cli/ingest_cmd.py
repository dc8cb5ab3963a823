"""`stance ingest`: articles in, sentence records out (see labeling.ingest.pipeline)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from labeling.config import load_config
from labeling.ingest.pipeline import DEFAULT_CONFIG, IngestOptions, IngestSummary, output_format, run_ingest
from labeling.io import check_writable, write_jsonl
from training.cli.common import EXIT_FAILED, EXIT_USAGE, config_opt, fail


def _options(config: Optional[Path], flags: dict, read_flags: dict, out: Path) -> IngestOptions:
    options = load_config(IngestOptions, config, default=DEFAULT_CONFIG)
    for key, value in flags.items():
        if value is not None:
            setattr(options, key, value)
    options.format = output_format(out, flags.get("format"), options.format)
    read = options.read.model_copy(update={k: v for k, v in read_flags.items() if v is not None})
    options.read = type(options.read).model_validate(read.model_dump())
    return options


# File names, sentences, dropped lines and error messages are data, not markup (a "[/b]" in a
# scraped sentence must print as itself): they go into tables as Text.
def _summary_table(summary: IngestSummary, out: Path, show_dropped: bool) -> Table:
    table = Table(title=Text(f"stance ingest -> {out}"), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    mb = summary.bytes_in / 1e6
    table.add_row("files", str(len(summary.files)))
    table.add_row("articles", f"{summary.articles} ({summary.empty_articles} with no sentence kept), {mb:.2f} MB of text")
    kinds = ", ".join(f"{k} {n}" for k, n in summary.kinds.most_common())
    table.add_row("sentences", f"{summary.sentences} ({kinds}); {summary.for_labeling} for labeling")
    table.add_row("languages", ", ".join(f"{k} {n}" for k, n in summary.languages.most_common(8)) or "-")
    dropped = ", ".join(f"{k} {n}" for k, n in summary.dropped.most_common())
    table.add_row("dropped lines", f"{sum(summary.dropped.values())}: {dropped}" if dropped else "0")
    g = summary.groups
    table.add_row("duplicate groups", f"{g.multi_groups} groups of near-duplicates covering {g.grouped_sentences} sentences")
    for row in g.largest[:5]:
        example = (row["example"] or "")[:90]
        table.add_row("", Text.assemble((row["group_id"], "cyan"), f" x{row['size']} in {row['articles']} articles: {example}"))
    if summary.nul_bytes:
        table.add_row("NUL characters", f"{summary.nul_bytes} stripped from article text")
    table.add_row("skipped", f"[red]{len(summary.skipped)}[/]" if summary.skipped else "0")
    for err in summary.skipped[:10]:
        table.add_row("", Text(str(err), style="red"))
    if len(summary.skipped) > 10:
        table.add_row("", f"... and {len(summary.skipped) - 10} more (see --errors FILE)")
    if not show_dropped and summary.dropped:
        table.add_row("", "[dim]--show-dropped lists the dropped lines[/]")
    return table


def _print_dropped(console: Console, summary: IngestSummary) -> None:
    table = Table(title="dropped lines", title_justify="left")
    for name in ("file", "reason", "line"):
        table.add_column(name, overflow="fold")
    for where, reason, line in summary.dropped_lines:
        table.add_row(Text(Path(where).name), reason, Text(line[:120]))
    console.print(table)


def ingest(
    inputs: list[str] = typer.Argument(..., help="Files, directories or glob patterns: .txt, .html, .jsonl, .csv, .parquet."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file of sentence records (written atomically)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="jsonl or parquet (default: from the --out extension, "
                                                             ".jsonl or .parquet, else the config's: jsonl)."),
    text_col: Optional[str] = typer.Option(None, "--text-col", help="Column/field holding the article text."),
    id_col: Optional[str] = typer.Option(None, "--id-col", help="Column/field holding the article id (else derived from the text)."),
    title_col: Optional[str] = typer.Option(None, "--title-col", help="Column/field holding the title."),
    source_col: Optional[str] = typer.Option(None, "--source-col", help="Column/field holding the outlet name."),
    url_col: Optional[str] = typer.Option(None, "--url-col", help="Column/field holding the URL."),
    date_col: Optional[str] = typer.Option(None, "--date-col", help="Column/field holding the date."),
    languages: Optional[str] = typer.Option(None, "--languages", help="Comma-separated ISO 639-1 codes sent to labeling (default en)."),
    show_dropped: bool = typer.Option(False, "--show-dropped", help="List every dropped boilerplate line with its reason."),
    allow_skips: bool = typer.Option(False, "--allow-skips", help="Exit 0 even when some inputs were skipped."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Write skipped inputs as JSON lines (path, line, message) here."),
    config: Optional[Path] = config_opt("Ingestion settings overriding the defaults", "ingest.yaml"),
) -> None:
    """Read articles, drop boilerplate, split and language-tag sentences, group near-duplicates.

    Exits 1 when any input, line or record was skipped (unless --allow-skips), 2 on bad options.
    """
    console = Console()
    flags = {"format": fmt, "languages": [x.strip() for x in languages.split(",") if x.strip()] if languages else None}
    read_flags = {"text_col": text_col, "id_col": id_col, "title_col": title_col, "source_col": source_col,
                  "url_col": url_col, "date_col": date_col}
    try:
        options = _options(config, flags, read_flags, out)
        # Before any work: a read-only folder must not cost a whole run, and an --errors file
        # that cannot be written must not fail after the output is in place.
        for path in (out, errors):
            if path is not None:
                check_writable(path)
    except ValueError as exc:  # ConfigError, OutputError included
        raise fail(console, exc, EXIT_USAGE) from None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("ingesting", total=None)
        counts = [0, 0]

        def advance(articles: int, sentences: int) -> None:
            counts[0] += articles
            counts[1] += sentences
            bar.update(task, description=f"ingesting: {counts[0]} articles, {counts[1]} sentences")

        try:
            summary = run_ingest(inputs, out, options, progress=advance)
        except OSError as exc:
            raise fail(console, f"cannot write {out}: {exc.strerror or exc}", EXIT_USAGE) from None
    if errors is not None:
        try:
            write_jsonl(errors, ({"path": e.path, "line": e.line, "message": e.message} for e in summary.skipped),
                        ensure_ascii=True)
        except OSError as exc:
            raise fail(console, f"{out} was written, but not the errors file: cannot write {errors}: "
                                f"{exc.strerror or exc}", EXIT_USAGE) from None
    if show_dropped:
        _print_dropped(console, summary)
    console.print(_summary_table(summary, out, show_dropped))
    if summary.leftovers_removed:
        console.print(f"removed {len(summary.leftovers_removed)} file(s) a killed ingest into {out.name} had left: "
                      + ", ".join(summary.leftovers_removed), markup=False, highlight=False, soft_wrap=True)
    if summary.skipped and not allow_skips:
        console.print(f"[red]{len(summary.skipped)} input(s) skipped; exit 1 (use --allow-skips to accept)[/]")
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add `stance ingest` to the top-level app."""
    app.command("ingest", help="Articles -> clean, language-tagged, de-duplicated sentence records.")(ingest)
