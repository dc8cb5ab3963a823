"""`stance predict`: tag every sentence of new articles (or sentence records) with a model."""
from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from labeling.config import CONFIG_DIR, ConfigError, load_config
from training.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, TrackingOpt, config_opt, fail, store_uri
from training.predict.engine import PredictOptions, PredictReport, article_source, check_outputs, predict, sentence_source
from training.predict.inputs import estimate_units
from training.predict.output import output_lock


class Engine(str, Enum):
    local = "local"
    spark = "spark"


def model_identity(loaded: Any) -> str:
    """What the resume check compares: registry name and version, else run id; a local folder
    by its content (training.model_dir.content_fingerprint), never by its path."""
    from training.model_dir import content_fingerprint

    if getattr(loaded, "name", None) and getattr(loaded, "version", None):
        return f"{loaded.name}/{loaded.version}"
    uri = str(loaded.uri)
    if not uri.startswith(("models:/", "runs:/")) and Path(uri).expanduser().is_dir():
        return f"content {content_fingerprint(Path(uri).expanduser())}"
    if getattr(loaded, "run_id", None):
        return f"run {loaded.run_id}"
    return uri


def _ingest_options(text_col: Optional[str], id_col: Optional[str], title_col: Optional[str]) -> Any:
    """The options of `stance ingest` (configs/ingest.yaml), so articles are split the same way."""
    from labeling.ingest.pipeline import DEFAULT_CONFIG, IngestOptions
    from labeling.ingest.readers import ReadOptions

    options = load_config(IngestOptions, default=DEFAULT_CONFIG)
    columns = {k: v for k, v in {"text_col": text_col, "id_col": id_col, "title_col": title_col}.items() if v is not None}
    if columns:
        options.read = load_config(ReadOptions, None, {**options.read.model_dump(), **columns})
    return options


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]scoring[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("items"),
        TextColumn("{task.fields[sentences]} sentences"), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), console=console, transient=False,
    )


def _print_report(console: Console, report: PredictReport) -> None:
    # Paths and error lines are data (a file name may hold "[/b]"): Text, never markup.
    table = Table(title="stance predict", show_header=False, title_justify="left")
    table.add_row("output", Text(str(report.output)))
    if report.summary is not None:
        table.add_row("summary", Text(str(report.summary)))
    if report.resumed_sentences:
        table.add_row("resumed after", f"{report.resumed_sentences} sentences already scored")
    table.add_row("inputs failed", f"[red]{report.error_count}[/]" if report.error_count else "0")
    if report.error_count and report.errors_file is not None:
        table.add_row("errors file", Text(str(report.errors_file)))
    console.print(table)
    for line in report.errors:
        console.print(Text(f"  {line}", style="red"), highlight=False)
    if report.error_count > len(report.errors):
        console.print(f"  [red]... and {report.error_count - len(report.errors)} more[/]")
    console.print(f"articles: {report.articles}  sentences: {report.sentences}  "
                  f"sentences/s: {report.sentences_per_second:,.0f}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""

    @app.command("predict")
    def predict_command(
        inputs: list[str] = typer.Argument(..., help="Article files or folders (anything `stance ingest` reads), or sentence records with --sentences."),
        model: str = typer.Option(..., "--model", "-m", help="models:/NAME@alias, models:/NAME/VERSION, runs:/RUN/PATH, or a local model directory."),
        out: str = typer.Option(..., "--out", "-o", help="Per-sentence output: .jsonl, .csv or .parquet (a folder of Parquet parts with --engine spark)."),
        sentences: bool = typer.Option(False, "--sentences", help="Inputs are sentence records (id, text) in JSONL, CSV or Parquet, not articles."),
        summary: Optional[str] = typer.Option(None, "--summary", help="Per-article summary (.jsonl, .csv or .parquet): counts and shares per tag, dominant stance, top sentences."),
        resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from the partial output kept beside --out."),
        errors: Optional[Path] = typer.Option(None, "--errors", help="JSONL file for inputs that failed (default: OUT.errors.jsonl)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Sentences scored per call and committed per part (default 1024)."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes that split and score (default: one per core for the baseline, 1 for transformers)."),
        engine: Engine = typer.Option(Engine.local, "--engine", help="local: this process; spark: mlflow.pyfunc.spark_udf over Parquet."),
        master: Optional[str] = typer.Option(None, "--master", help="Spark master for --engine spark (default: local[*], or what spark-submit set)."),
        python: Optional[str] = typer.Option(None, "--python", help="With --engine spark --master: the executors' Python, a path on the workers (default: PYSPARK_PYTHON, else this interpreter). Under spark-submit, PYSPARK_PYTHON decides."),
        text_col: Optional[str] = typer.Option(None, "--text-col", help="Text column/field of table inputs."),
        id_col: Optional[str] = typer.Option(None, "--id-col", help="Id column/field of table inputs."),
        title_col: Optional[str] = typer.Option(None, "--title-col", help="Title column/field of article tables."),
        config: Optional[Path] = config_opt("Predictor settings overriding the defaults", "predict.yaml"),
        tracking_uri: Optional[str] = TrackingOpt,
    ) -> None:
        """Tag every sentence of INPUT... with the model's stance tags and write one row per sentence."""
        console = Console(stderr=True)
        # Spark gets the strings as typed: pathlib turns hdfs://namenode:9000/x into hdfs:/namenode:9000/x.
        uris = (list(inputs), out, summary)
        inputs, out, summary = [Path(p) for p in inputs], Path(out), None if summary is None else Path(summary)
        errors_file = errors if errors is not None else _default_errors_file(out)
        try:
            options = load_config(PredictOptions, config, {"batch_size": batch_size, "workers": workers, "text_col": text_col, "id_col": id_col},
                                  default=CONFIG_DIR / "predict.yaml")
            store = store_uri(tracking_uri, check=False)
            if engine is Engine.local:
                check_outputs(out, summary, errors_file)
        except (ConfigError, ValueError) as exc:
            raise fail(console, str(exc))
        if engine is Engine.spark:
            _spark(console, uris, model, _load(console, model, store), sentences, errors_file, resume,
                   (master, python), options, None if sentences else _ingest_options(text_col, id_col, title_col), store)
            return
        report = _run_local(console, inputs, sentences, (text_col, id_col, title_col), model, store, out, summary,
                            errors_file, resume, options)
        _print_report(console, report)
        if report.error_count:
            raise typer.Exit(EXIT_FAILED)


def _run_local(console: Console, inputs: list[Path], sentences: bool, columns: tuple[Optional[str], ...], model: str,
               store: str, out: Path, summary: Optional[Path], errors_file: Path, resume: bool,
               options: PredictOptions) -> PredictReport:
    """Load the model and score `inputs` into `out` under the output's lock; failures end in the error line."""
    try:
        # The lock first: a second run on a busy output is refused at once, not after the model
        # load (many seconds for a transformer) and the inputs' row count.
        with output_lock(out):
            loaded = _load(console, model, store)
            source = sentence_source(inputs, options) if sentences else article_source(inputs, _ingest_options(*columns))
            with _progress(console) as bar:
                task = bar.add_task("score", total=estimate_units(inputs), sentences=0)

                def advance(n_units: int, n_rows: int) -> None:
                    done = bar.tasks[0].fields["sentences"] + n_rows
                    bar.update(task, advance=n_units, sentences=done)

                report = predict(source, loaded.scorer, model_identity(loaded), out, summary=summary,
                                 errors_file=errors_file, resume=resume, batch_size=options.batch_size,
                                 top_n=options.top_n, workers=options.workers, progress=advance, lock=False)
                bar.update(task, completed=bar.tasks[0].completed, total=bar.tasks[0].completed)
                return report
    except typer.Exit:  # its error line is printed already (typer.Exit is a RuntimeError)
        raise
    except ValueError as exc:  # ResumeError, OutputBusyError, ConfigError, OutputError, a scoring error in this process
        raise fail(console, str(exc))
    except OSError as exc:  # a disk that filled up, a folder made read-only during the run
        raise fail(console, f"cannot write {exc.filename or out}: {exc.strerror or exc}; {out} was not written. The "
                            "chunks scored so far are kept: fix this and run the same command with --resume.")
    except RuntimeError as exc:  # a scoring worker failed or died (training.predict.workers says which)
        raise fail(console, f"{exc}; {out} was not written. The chunks scored so far are kept: "
                            "run the same command with --resume to continue.")
    except KeyboardInterrupt:
        raise fail(console, f"interrupted; {out} was not written. The chunks scored so far are kept: "
                             "run the same command with --resume to continue.", code=EXIT_INTERRUPTED)


def _default_errors_file(out: Path) -> Path:
    """OUT.errors.jsonl beside the output; in the working folder when OUT is on a remote store (hdfs:, s3a:)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", str(out)) and not str(out).startswith("file:"):
        return Path.cwd() / f"{out.name}.errors.jsonl"
    return out.with_name(out.name + ".errors.jsonl")


def _load(console: Console, uri: str, store: str) -> Any:
    from training.registry import load_model

    try:
        return load_model(uri, store)
    except (ValueError, OSError) as exc:
        raise fail(console, f"cannot load model: {exc}")


def _spark(console: Console, uris: tuple[list[str], str, Optional[str]], uri: str, loaded: Any, sentences: bool,
           errors_file: Path, resume: bool, session: tuple[Optional[str], Optional[str]], options: PredictOptions,
           ingest_options: Any, store: str) -> None:
    """--engine spark: Parquet in and out through mlflow.pyfunc.spark_udf (training.predict.spark).

    `uris` (inputs, out, summary) are as typed; `session` is (master, the executors' Python)."""
    import os
    import tempfile

    from training import registry
    from training.predict import spark as spark_engine

    if resume:
        raise fail(console, "--resume is for the local engine; a Spark job is rerun as a whole")
    inputs, out, summary = uris
    master, python = session
    for path in (out, summary):
        if path is not None and not path.lower().endswith(".parquet"):
            raise fail(console, f"{path}: --engine spark writes Parquet folders; use a .parquet name")
    try:
        spark_engine.require_pyspark()
    except RuntimeError as exc:
        raise fail(console, str(exc))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = "local[*]"  # not under spark-submit, which sets the master itself
    with tempfile.TemporaryDirectory(prefix="stance-spark-model-") as tmp:
        model_uri = registry.pyfunc_uri(uri, Path(tmp), store)
        console.print(Text.assemble(("spark", "bold"), f": starting a session on {master or 'the spark-submit master'} ..."))
        spark = spark_engine.spark_session(master, python=python)
        try:
            result = spark_engine.run_spark(
                spark, inputs, model_uri, loaded.scorer.tags, out, sentences=sentences,
                ingest_options=ingest_options, text_col=options.text_col, id_col=options.id_col,
                summary=summary, errors_file=errors_file, top_n=options.top_n)
        except ValueError as exc:
            raise fail(console, str(exc))
        finally:
            if master is not None:
                spark.stop()
    report = PredictReport(out, summary, errors_file, articles=result["articles"], sentences=result["sentences"],
                           error_count=len(result["errors"]), seconds=result["seconds"],
                           errors=[f"{e['source']}{'' if e['line'] is None else ':' + str(e['line'])}: {e['error']}"
                                   for e in result["errors"][:10]])
    _print_report(console, report)
    if report.error_count:
        raise typer.Exit(EXIT_FAILED)
