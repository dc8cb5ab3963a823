"""Ingestion: articles in, traceable, language-tagged, de-duplicated sentence records out.

`article_sentences` turns one article into sentence records (the predictor reuses it);
`run_ingest` streams many inputs, spools records to a temporary file beside the output
while the near-duplicate index grows (each record with its singleton group id), then writes
the ids of grouped sentences over them in place and renames the spool over the output.
Memory holds the index (a fixed-size row per sentence), never the records.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Literal

import orjson
from pydantic import PrivateAttr

from labeling.ingest.clean import CleanOptions, CleanResult, clean_article
from labeling.config import CONFIG_DIR, StrictModel
from labeling.ingest.dedup import GroupIds, GroupIndex, GroupOptions, GroupReport, group_id_for
from labeling.io import atomic_path, current_umask
from labeling.ingest.language import LanguageOptions, LanguageTagger
from labeling.ingest.readers import Article, ReadError, ReadOptions, iter_articles
from labeling.ingest.sentences import split_lines

DEFAULT_CONFIG = CONFIG_DIR / "ingest.yaml"
OUTPUT_FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}
RECORD_FIELDS = ["sentence_id", "article_id", "index", "text", "start", "end", "prev_text", "next_text", "kind",
                 "lang", "for_labeling", "group_id", "title", "source", "url", "date", "source_path"]
# Records of one article encoded and indexed together.
_CHUNK = 512
# Dropped lines kept for --show-dropped; counts are always complete.
MAX_DROPPED_SHOWN = 5000


class IngestOptions(StrictModel):
    """Configuration of `stance ingest` (defaults here, overrides in configs/ingest.yaml)."""

    languages: list[str] = ["en"]
    format: Literal["jsonl", "parquet"] = "jsonl"
    read: ReadOptions = ReadOptions()
    clean: CleanOptions = CleanOptions()
    groups: GroupOptions = GroupOptions()
    language: LanguageOptions = LanguageOptions()
    _tagger: LanguageTagger | None = PrivateAttr(default=None)

    def tagger(self) -> LanguageTagger:
        """The language tagger, created once per options object (its model loads lazily)."""
        if self._tagger is None:
            self._tagger = LanguageTagger(self.language)
        return self._tagger


def _hex(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def iter_records(article: Article, options: IngestOptions) -> tuple[CleanResult, str, Iterator[dict]]:
    """Clean, split and tag one article; returns (cleaning result, article id, lazy records).

    Records are built one at a time, so a huge single-line article never holds them all.
    """
    cleaned = clean_article(article.text, title=article.title, options=options.clean)
    spans = split_lines(cleaned.text, cleaned.lines)
    texts = [cleaned.text[s.start:s.end] for s in spans]
    # Headlines (Title Case, few words) and datelines fool any detector: they take the article's language.
    langs = options.tagger().tag(texts, [s.kind != "body" for s in spans],
                                 [cleaned.lines[s.line].text for s in spans])
    article_id = article.article_id or "a-" + _hex(cleaned.text)
    header = cleaned.header
    provenance = {
        "title": article.title or header.get("title") or cleaned.headline,
        "source": article.source or header.get("source"),
        "url": article.url or header.get("url"),
        "date": article.date or header.get("date"),
        "source_path": article.source_path,
    }

    def records() -> Iterator[dict]:
        for i, (span, text, lang) in enumerate(zip(spans, texts, langs)):
            yield {
                "sentence_id": "s-" + _hex(f"{article_id}\x1f{i}\x1f{text}"),
                "article_id": article_id,
                "index": i,
                "text": text,
                "start": span.start,
                "end": span.end,
                "prev_text": texts[i - 1] if i > 0 else None,
                "next_text": texts[i + 1] if i + 1 < len(texts) else None,
                "kind": span.kind,
                "lang": lang,
                # Datelines are provenance, not statements: never sent to annotators.
                "for_labeling": lang in options.languages and span.kind != "dateline",
                "group_id": None,
                **provenance,
            }

    return cleaned, article_id, records()


def article_sentences(article: Article, options: IngestOptions) -> list[dict]:
    """Sentence records of one article (see docs/architecture.md), `group_id` left None.

    Inputs: an Article from iter_articles (or built by the caller) and the options.
    Output: records in text order with offsets into the cleaned article text.
    """
    return list(iter_records(article, options)[2])


@dataclass
class IngestSummary:
    """What one ingestion run did, for the CLI summary and tests."""

    files: set[str] = field(default_factory=set)
    articles: int = 0
    empty_articles: int = 0
    sentences: int = 0
    for_labeling: int = 0
    bytes_in: int = 0
    dropped: Counter = field(default_factory=Counter)
    dropped_lines: list[tuple[str, str, str]] = field(default_factory=list)  # path, reason, line
    languages: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    skipped: list[ReadError] = field(default_factory=list)
    groups: GroupReport = field(default_factory=GroupReport)
    leftovers_removed: list[str] = field(default_factory=list)  # a killed run's spool and temporary files
    nul_bytes: int = 0  # NUL characters stripped from article texts


def _account(summary: IngestSummary, article: Article, cleaned: CleanResult) -> None:
    summary.files.add(article.source_path)
    summary.articles += 1
    text = article.text
    summary.bytes_in += len(text) if text.isascii() else len(text.encode("utf-8"))
    summary.empty_articles += not cleaned.lines
    summary.nul_bytes += cleaned.nul_bytes
    summary.dropped.update(cleaned.dropped)
    room = MAX_DROPPED_SHOWN - len(summary.dropped_lines)
    where = article.source_path + (f":{article.line}" if article.line is not None else "")
    summary.dropped_lines.extend((where, r, line) for r, line in cleaned.dropped_lines[:max(room, 0)])


def _count(summary: IngestSummary, recs: list[dict]) -> None:
    summary.sentences += len(recs)
    summary.languages.update([r["lang"] for r in recs])
    summary.kinds.update([r["kind"] for r in recs])
    summary.for_labeling += sum([r["for_labeling"] for r in recs])


# Inside JSON strings quotes are escaped, so this literal can only be a record's own key.
_GROUP_KEY = b'"group_id":"'


@dataclass
class _Spool:
    """Records spooled beside the output, in output order, each with its own group id; where each
    record's line starts and where its group id sits, to patch the ids of grouped sentences in place."""

    file: BinaryIO
    size: int = 0
    starts: array = field(default_factory=lambda: array("q"))
    group_at: array = field(default_factory=lambda: array("I"))  # offset of the id in its line

    def write(self, recs: list[dict]) -> None:
        lines = [orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in recs]  # RECORD_FIELDS order
        for line in lines:
            self.starts.append(self.size)
            self.group_at.append(line.find(_GROUP_KEY) + len(_GROUP_KEY))
            self.size += len(line)
        self.file.write(b"".join(lines))


def _spool(inputs: list[str], options: IngestOptions, spool: _Spool, index: GroupIndex, summary: IngestSummary,
           progress: Callable[[int, int], None] | None) -> None:
    seen_ids: dict[str, str] = {}
    for item in iter_articles(inputs, options.read):
        if isinstance(item, ReadError):
            summary.skipped.append(item)
            continue
        cleaned, aid, records = iter_records(item, options)
        where = item.source_path + (f":{item.line}" if item.line is not None else "")
        if cleaned.lines and aid in seen_ids:
            summary.skipped.append(ReadError(item.source_path, item.line, f"duplicate article {aid} (first read from {seen_ids[aid]})"))
            continue
        if cleaned.lines:
            seen_ids[aid] = where
        _account(summary, item, cleaned)
        article_no, before = summary.articles, summary.sentences
        # Chunks, not the whole article: a 50 MB single-line article has ~10^5 records.
        while recs := list(islice(records, _CHUNK)):
            _count(summary, recs)
            keys = [r["sentence_id"] for r in recs]
            index.add_many(keys, [r["text"] for r in recs], article_no)
            for r, key in zip(recs, keys):
                r["group_id"] = group_id_for(key)  # a singleton's id, the same length as any other
            spool.write(recs)
        if progress:
            progress(1, summary.sentences - before)


def _patch_groups(path: Path, spool: _Spool, group_ids: GroupIds, examples: dict[str, dict]) -> None:
    """Write the ids of grouped sentences over their singleton ids, in place; fill the report's examples."""
    with open(path, "r+b") as fh:
        for i, gid in group_ids.joined():
            fh.seek(spool.starts[i] + spool.group_at[i])
            fh.write(gid.encode("ascii"))
            if gid in examples and examples[gid]["example"] is None:
                fh.seek(spool.starts[i])
                examples[gid]["example"] = orjson.loads(fh.readline())["text"]
        fh.flush()
        os.fsync(fh.fileno())


def _write_parquet(target: Path, rows: Iterator[dict[str, Any]], batch: int = 5000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"index": pa.int64(), "start": pa.int64(), "end": pa.int64(), "for_labeling": pa.bool_()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in RECORD_FIELDS])
    with atomic_path(target, suffix=".parquet") as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= batch:
                    writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                    chunk = []
            if chunk:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))


def output_format(out: Path | str, requested: str | None, default: str) -> str:
    """The format of the ingest output `out`: its extension (.jsonl, .parquet) decides, as in
    `stance predict`; `requested` (--format) must agree with it. Another extension takes
    `requested`, else `default` (the config's). Raises ValueError naming `out` on a conflict,
    or for .csv (sentence records are JSONL or Parquet)."""
    suffix = Path(out).suffix.lower()
    if suffix == ".csv":
        raise ValueError(f"{out}: `stance ingest` writes JSONL or Parquet, not CSV; use a .jsonl or .parquet name")
    by_name = OUTPUT_FORMATS.get(suffix)
    if by_name and requested and requested != by_name:
        raise ValueError(f"--format {requested} does not match the extension of {out}; "
                         f"drop --format or name the output .{requested}")
    return by_name or requested or default


def _lock(path: Path) -> BinaryIO:
    """Open `path` and hold an exclusive lock on it until the file object is closed: a spool is
    locked while its run lives, so one found unlocked was left by a killed run."""
    fh = open(path, "rb")
    with contextlib.suppress(ImportError):  # not POSIX: no lock
        import fcntl

        fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def remove_leftovers(out: Path) -> list[str]:
    """Remove what a killed ingest into `out` left beside it: spool files no running ingest holds
    (`.NAME.*.spool`) and, when no ingest into `out` is running, temporary Parquet outputs
    (`.NAME.*.parquet`). Returns the names removed."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locks to tell a live spool from a dead one
        return []
    removed, live = [], False
    pattern = glob.escape(f".{out.name}.")
    for path in sorted(out.parent.glob(pattern + "*.spool")):
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                live = True
                continue
            path.unlink()
            removed.append(path.name)
    if not live:
        for path in sorted(out.parent.glob(pattern + "*.parquet")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed


def run_ingest(inputs: list[str], out: Path | str, options: IngestOptions,
               progress: Callable[[int, int], None] | None = None) -> IngestSummary:
    """Ingest `inputs` (files, directories, globs) into sentence records at `out`.

    Inputs: input paths, the output path (JSONL or Parquet per options.format), options,
    and an optional progress callback called with (articles, sentences) increments.
    Output: an IngestSummary; skipped inputs are listed in it, never raised. The output is
    written atomically (a failed run leaves any previous file untouched) and is identical
    on reruns over the same inputs. Files a killed run into `out` left are removed first and
    listed in `leftovers_removed`.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = IngestSummary(leftovers_removed=remove_leftovers(out))
    index = GroupIndex(options.groups)
    # The spool sits beside the output: a JSONL output is the spool itself, patched and renamed
    # (no second copy of the records is ever written).
    fd, spool_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".spool", dir=out.parent)
    os.fchmod(fd, 0o666 & ~current_umask())  # the output is renamed from it: the user's umask, as `open` gives
    spool_path = Path(spool_name)
    held = _lock(spool_path)
    try:
        with os.fdopen(fd, "wb") as fh:
            spool = _Spool(fh)
            _spool(inputs, options, spool, index, summary, progress)
        group_ids, summary.groups = index.finish()
        _patch_groups(spool_path, spool, group_ids, {row["group_id"]: row for row in summary.groups.largest})
        if options.format == "parquet":
            with open(spool_path, "rb") as fh:
                _write_parquet(out, (orjson.loads(line) for line in fh))
        else:
            os.replace(spool_path, out)
    finally:
        spool_path.unlink(missing_ok=True)
        held.close()
    return summary
