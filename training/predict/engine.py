"""The local prediction engine behind `stance predict`.

Input units (an article with its sentences, a sentence record, or an input error) are
streamed, grouped into chunks of whole units of about `batch_size` sentences, scored with
`scorer.predict_proba` one chunk at a time and committed as they go (training.predict.output).
Only one chunk is ever held in memory, so memory does not grow with the input.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa
from pydantic import Field

from labeling.config import StrictModel
from labeling.ingest.pipeline import IngestOptions
from labeling.io import check_writable
from training.predict.inputs import Record, RecordError, iter_records
from training.predict.output import (
    PartialRun,
    ResumeError,
    open_partial,
    output_format,
    output_lock,
    row_schema,
    write_errors,
    write_table_stream,
)
from training.predict.workers import default_workers, run_chunks
from training.model_dir import Scorer
from training.predict.summary import summarize, summary_schema

class PredictOptions(StrictModel):
    """How `stance predict` reads and scores (configs/predict.yaml overrides the defaults)."""

    batch_size: int = Field(1024, gt=0, description="sentences scored per call and committed per part")
    workers: int | None = Field(None, gt=0, description="processes that split and score; default: cores for the baseline, 1 for transformers")
    text_col: str = Field("text", min_length=1, description="text field of --sentences records")
    id_col: str = Field("id", min_length=1, description="id field of --sentences records")
    top_n: int = Field(3, gt=0, description="top sentences per tag in the summary")


@dataclass
class Unit:
    """One input item: an article's sentence rows, one sentence record, or an input error."""

    key: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    is_article: bool = False


@dataclass
class PredictReport:
    """What a prediction run did; `errors` holds the first few error lines for display."""

    output: Path
    summary: Path | None
    errors_file: Path | None
    articles: int = 0
    sentences: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    resumed_sentences: int = 0
    seconds: float = 0.0

    @property
    def sentences_per_second(self) -> float:
        scored = self.sentences - self.resumed_sentences
        return scored / self.seconds if self.seconds > 0 else 0.0


ProgressFn = Callable[[int, int], None]  # (units advanced, sentences advanced)


@dataclass
class Item:
    """One raw input item before splitting: its resume key, a size estimate, the payload, its file.

    `key` is a fingerprint of the item's content (never of its path or position), so a resumed
    run can tell an edited input from the one already scored; `source` and `line` name it in
    messages. `weight` estimates its sentences, so chunks can be cut before the (costly) split.
    """

    key: str
    weight: int
    payload: Any
    source: str = ""
    line: int | None = None


@dataclass
class Source:
    """Raw items plus the picklable function that turns one into a Unit (run in workers)."""

    items: Iterator[Item]
    to_unit: Callable[[Item], Unit]
    mode: str


def _digest(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:16]


def _record_key(data: dict[str, Any]) -> str:
    # Every field, not only id and text: article_id and index reach the output too.
    return _digest(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str))


def sentence_source(inputs: Sequence[Path | str], options: PredictOptions) -> Source:
    """Items for `--sentences`: one per record of JSONL/CSV/Parquet input (or per error)."""

    def items() -> Iterator[Item]:
        for rec in iter_records(inputs):
            if isinstance(rec, RecordError):
                yield Item(_digest("error", rec.message), 0, rec.as_dict(), rec.source, rec.line)
            else:
                yield Item(_record_key(rec.data), 1, rec, rec.source, rec.line)

    return Source(items(), partial(_sentence_unit, options=options), "sentences")


def _sentence_unit(item: Item, options: PredictOptions) -> Unit:
    if isinstance(item.payload, dict):
        return Unit(key=item.key, error=item.payload)
    row = sentence_row(item.payload, options)
    if isinstance(row, RecordError):
        return Unit(key=item.key, error=row.as_dict())
    return Unit(key=item.key, rows=[row])


def sentence_row(record: Record, options: PredictOptions) -> dict[str, Any] | RecordError:
    """The output id columns of one sentence record, or a RecordError when it has no text.

    The id comes from `id_col` (falling back to `sentence_id`, then a hash of the text);
    `article_id` and `index` are kept when the record has them (e.g. `stance ingest` output).
    """
    data = record.data
    text = data.get(options.text_col)
    if not isinstance(text, str) or not text.strip():
        return RecordError(record.source, record.line, f"record without text (field {options.text_col!r})")
    sid = data.get(options.id_col)
    if sid is None or sid == "":
        sid = data.get("sentence_id") or "s-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    index = data.get("index")
    return {
        "article_id": _str_or_none(data.get("article_id")),
        "sentence_id": str(sid),
        "index": int(index) if isinstance(index, (int, float)) and index == index else None,
        "text": text,
    }


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# Characters per sentence in news text, to size chunks before articles are split.
_CHARS_PER_SENTENCE = 150


def for_prediction(options: IngestOptions) -> IngestOptions:
    """The same ingestion options without language detection: the predictor scores every
    sentence whatever its language, and detection is the costliest step of splitting."""
    if not options.language.detect:
        return options
    # Validated afresh, not model_copy: a copy would share the original's (detecting) tagger.
    return type(options).model_validate({**options.model_dump(), "language": {**options.language.model_dump(), "detect": False}})


def article_source(inputs: Sequence[Path | str], ingest_options: IngestOptions) -> Source:
    """Items for article input: everything `stance ingest` reads, cleaned and split the same way.

    `ingest_options` is a labeling.ingest.pipeline.IngestOptions (its `read` part names table columns).
    """
    from labeling.ingest.readers import ReadError, iter_articles

    ingest_options = for_prediction(ingest_options)

    def items() -> Iterator[Item]:
        for art in iter_articles([str(p) for p in inputs], ingest_options.read):
            if isinstance(art, ReadError):
                yield Item(_digest("error", art.message), 0, {"source": str(art.path), "line": art.line, "error": str(art.message)},
                           str(art.path), art.line)
            else:
                yield Item(_digest(art.article_id, art.title, art.is_html, art.text), 1 + len(art.text) // _CHARS_PER_SENTENCE,
                           art, art.source_path, art.line)

    return Source(items(), partial(_article_unit, ingest_options=ingest_options), "articles")


def _article_unit(item: Item, ingest_options: Any) -> Unit:
    from labeling.ingest.pipeline import article_sentences

    if isinstance(item.payload, dict):
        return Unit(key=item.key, error=item.payload)
    rows = [
        {"article_id": s["article_id"], "sentence_id": s["sentence_id"], "index": int(s["index"]), "text": s["text"]}
        for s in article_sentences(item.payload, ingest_options)
    ]
    return Unit(key=item.key, rows=rows, is_article=True)


def chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Group items into lists of about `size` estimated sentences.

    Items are never split, so an article's sentences always land in the same chunk.
    """
    chunk: list[Item] = []
    weight = 0
    for item in items:
        chunk.append(item)
        weight += item.weight
        if weight >= size:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk


def skip_done(items: Iterator[Item], run: PartialRun) -> Iterator[Item]:
    """Drop the items an interrupted run already committed, checking every one of them is unchanged.

    Each done item is compared by its content fingerprint with the one the interrupted run
    scored (not only the item at the resume point), so an input edited before the resume
    point cannot leave stale rows. Raises ResumeError naming the file (and line) of the
    first changed item, or the file that is gone when the input has fewer items than were done.
    """
    for i, (source, line, key) in enumerate(run.iter_done()):
        item = next(items, None)
        if item is None:
            raise ResumeError(f"{_where(source, line)}: scored by the interrupted run but no longer in the input (the "
                              f"input has only {i} of the {run.units_done} items already done); rerun without --resume")
        if item.key != key:
            raise ResumeError(_changed(item, source, line))
    yield from items


def _where(source: str, line: int | None) -> str:
    return source if line is None else f"{source}:{line}"


def _changed(item: Item, source: str, line: int | None) -> str:
    # The same file given another way (relative, absolute) is the same input: compare names.
    if os.path.basename(item.source) == os.path.basename(source):
        return (f"{_where(item.source, item.line)}: changed since the interrupted run scored it (its rows in the "
                "partial output would be stale); rerun without --resume to score the inputs as they are now")
    return (f"the inputs changed since the interrupted run: {_where(item.source, item.line)} is where "
            f"{_where(source, line)} was scored (a file added, removed or renamed); rerun without --resume")


def check_outputs(out: Path, summary: Path | None, errors: Path | None) -> None:
    """Fail before any work when an output path has an unsupported extension, collides with
    another, or could not be written (labeling.io.check_writable: a read-only folder, a folder
    in its place); ValueError (OutputError) naming the path."""
    output_format(out)
    if summary is not None:
        output_format(summary)
    paths = [p.resolve() for p in (out, summary, errors) if p is not None]
    if len(set(paths)) != len(paths):
        raise ValueError("--out, --summary and --errors must be different files")
    for path in (out, summary, errors):
        if path is not None:
            check_writable(path)


def predict(source: Source, scorer: Scorer, model_id: str, out: Path, *,
            summary: Path | None = None, errors_file: Path | None = None, resume: bool = False,
            batch_size: int = 1024, top_n: int = 3, workers: int | None = None,
            progress: ProgressFn | None = None, lock: bool = True) -> PredictReport:
    """Score `source` with `scorer` and write `out` (and `summary`, `errors_file`) atomically.

    `model_id` identifies the model in the resume check (its content fingerprint or registered
    version, never its path); `workers` (default: see default_workers) sets the processes that
    split and score. With `resume`, continues the partial output an interrupted run left beside
    `out`. Raises ResumeError (before scoring anything) when that output was made with other
    tags, another model or mode, or when any input it already scored changed (naming the file), and OutputBusyError (a ResumeError) while another run writes `out`; ValueError on bad output paths. Input errors do not raise: they
    are counted, listed in the report and written to `errors_file`. `lock=False` when the caller
    already holds output_lock(out) (the CLI takes it before loading the model).
    """
    out = Path(out)
    check_outputs(out, summary, errors_file)
    with output_lock(out) if lock else contextlib.nullcontext():
        return _predict(source, scorer, model_id, out, summary, errors_file, resume, batch_size, top_n, workers, progress)


def _predict(source: Source, scorer: Scorer, model_id: str, out: Path, summary: Path | None, errors_file: Path | None,
             resume: bool, batch_size: int, top_n: int, workers: int | None, progress: ProgressFn | None) -> PredictReport:
    tags = list(scorer.tags)
    schema = row_schema(tags)
    run, resumed = open_partial(out, {"tags": tags, "model": model_id, "mode": source.mode}, resume)
    report = PredictReport(out, summary, errors_file, sentences=run.rows_done, resumed_sentences=run.rows_done,
                           error_count=run.errors_done)
    if resumed and progress is not None:
        progress(run.units_done, run.rows_done)
    started = time.perf_counter()
    n_workers = workers if workers is not None else default_workers(scorer)
    for items, result in run_chunks(chunks(skip_done(source.items, run), batch_size), source.to_unit, scorer, schema, n_workers):
        run.commit(result.table, result.errors, [(item.source, item.line, item.key) for item in items], articles=result.articles)
        report.sentences += result.table.num_rows
        report.error_count += len(result.errors)
        if progress is not None:
            progress(len(items), result.table.num_rows)
    report.seconds = time.perf_counter() - started
    _finish(run, report, schema, tags, whole_articles=(source.mode == "articles"), top_n=top_n)
    return report


def _finish(run: PartialRun, report: PredictReport, schema: pa.Schema, tags: list[str], whole_articles: bool, top_n: int) -> None:
    write_table_stream(run.iter_tables(), report.output, schema)
    if report.summary is not None:
        summarized = write_table_stream(summarize(run.iter_tables(), tags, whole_articles, top_n), report.summary, summary_schema(tags))
    report.articles = run.articles_done if whole_articles else (summarized if report.summary else _distinct_articles(run))
    report.errors = [str(RecordError(e["source"], e["line"], e["error"])) for e in _first(run.iter_errors(), 10)]
    if report.errors_file is not None and (run.errors_done or report.errors_file.exists()):
        write_errors(run.iter_errors(), report.errors_file)
    run.discard()


def _distinct_articles(run: PartialRun) -> int:
    # sentence records may interleave articles, so count ids (one small string each)
    seen: set[str] = set()
    for table in run.iter_tables():
        seen.update(table.column("article_id").drop_null().unique().to_pylist())
    return len(seen)


def _first(items: Iterable[Any], n: int) -> Iterator[Any]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item
