"""Reading articles: files, directories and globs of txt, html, jsonl, csv and parquet.

`iter_articles` streams: one `Article` per txt/html file or per jsonl/csv/parquet record,
or a `ReadError` naming the file (and line or row) for anything that cannot be read, so
that one bad input never stops the rest. Tabular files are read in chunks, so memory
stays flat however large the file is.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import charset_normalizer

from labeling.config import StrictModel

TEXT_SUFFIXES = {".txt", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
TABLE_SUFFIXES = {".jsonl", ".csv", ".parquet"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])
# Bytes inspected for NULs and control characters: enough to tell text from binary.
_SNIFF_BYTES = 65536


class ReadOptions(StrictModel):
    """Column names for tabular inputs and the chunk size used to stream them."""

    text_col: str = "text"
    id_col: str | None = "id"
    title_col: str | None = "title"
    source_col: str | None = "source"
    url_col: str | None = "url"
    date_col: str | None = "date"
    chunk_rows: int = 2000


@dataclass
class Article:
    """One article's raw text and provenance; `article_id` is None when the input gave none."""

    text: str
    source_path: str
    article_id: str | None = None
    title: str | None = None
    source: str | None = None
    url: str | None = None
    date: str | None = None
    line: int | None = None
    is_html: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadError:
    """An input that was skipped: the path, the line or row (or None) and why."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


def expand_inputs(inputs: list[str]) -> Iterator[Path | ReadError]:
    """Expand files, directories (recursively, sorted) and glob patterns into file paths.

    Yields a ReadError for a path that does not exist, a glob that matches nothing, or a
    file whose type is not supported. Each file is yielded once even if named twice.
    """
    seen: set[tuple[int, int]] = set()
    for item in inputs:
        if glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                yield ReadError(item, None, "no files match this pattern")
            candidates = [Path(m) for m in matches]
        else:
            path = Path(item)
            if not path.exists():
                yield ReadError(item, None, "no such file or directory")
                continue
            candidates = [path]
        for path in candidates:
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
                if not files:
                    yield ReadError(str(path), None, "directory holds no supported files (txt, html, jsonl, csv, parquet)")
            else:
                files = [path]
            for f in files:
                # Device and inode name the file itself (through links and relative paths) in one stat call.
                info = f.stat()
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                if f.suffix.lower() not in SUPPORTED_SUFFIXES:
                    yield ReadError(str(f), None, f"unsupported file type {f.suffix or '(none)'!r}; expected txt, html, jsonl, csv or parquet")
                else:
                    yield f


def decode_bytes(data: bytes) -> str:
    """Decode file bytes: UTF-8 first, then the encoding charset-normalizer finds.

    Raises ValueError for empty input, binary data (NUL bytes, control characters) or
    bytes no encoding explains.
    """
    if not data.strip():
        raise ValueError("empty file")
    head = data[:_SNIFF_BYTES]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in head:
        raise ValueError("binary file (contains NUL bytes), not text")
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > len(head) * 0.05:
        raise ValueError("binary file (too many control characters), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.encoding is None:
        raise ValueError("not UTF-8 and no other text encoding fits; is this a text file?")
    return str(best)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    return decode_bytes(data)


def _html_article(path: Path, html: str) -> Article:
    # Imported here: trafilatura pulls in lxml and friends, needed only for HTML inputs.
    import trafilatura

    doc = trafilatura.bare_extraction(
        html, url=None, include_comments=False, include_tables=False, with_metadata=True, deduplicate=False
    )
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise ValueError("no main text found in the HTML page")
    title = getattr(doc, "title", None)
    return Article(
        text=(f"{title}\n\n{text}" if title else text),
        source_path=str(path),
        title=title,
        source=getattr(doc, "sitename", None),
        url=getattr(doc, "url", None),
        date=getattr(doc, "date", None),
        is_html=True,
    )


def _clean_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from pandas
        return None
    text = str(value).strip()
    return text or None


def record_article(record: dict[str, Any], path: Path | str, line: int, options: ReadOptions) -> Article | ReadError:
    """One tabular record (a JSONL line, CSV or Parquet row) as an Article, or a ReadError naming the field."""
    if options.text_col not in record:
        return ReadError(str(path), line, f"missing text field {options.text_col!r} (fields: {', '.join(map(str, record)) or 'none'})")
    text = record[options.text_col]
    if not isinstance(text, str) or not text.strip():
        return ReadError(str(path), line, f"empty or non-text value in field {options.text_col!r}")

    def col(name: str | None) -> str | None:
        return _clean_value(record.get(name)) if name else None

    return Article(
        text=text, source_path=str(path), article_id=col(options.id_col), title=col(options.title_col),
        source=col(options.source_col), url=col(options.url_col), date=col(options.date_col), line=line,
    )


def _iter_jsonl(path: Path, options: ReadOptions) -> Iterator[Article | ReadError]:
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield ReadError(str(path), lineno, f"malformed JSON line: {getattr(exc, 'msg', exc)}")
                continue
            if not isinstance(record, dict):
                yield ReadError(str(path), lineno, f"expected a JSON object, got {type(record).__name__}")
                continue
            yield record_article(record, path, lineno, options)


def _check_columns(path: Path, columns: list[str], options: ReadOptions) -> None:
    if options.text_col not in columns:
        raise ValueError(f"missing text column {options.text_col!r} (columns: {', '.join(columns)}); use --text-col")


def _iter_csv(path: Path, options: ReadOptions) -> Iterator[Article | ReadError]:
    import pandas as pd

    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=options.chunk_rows, encoding_errors="strict")
        row = 0
        for chunk in reader:
            _check_columns(path, list(chunk.columns), options)
            for record in chunk.to_dict(orient="records"):
                row += 1
                # Row numbers count data rows; +1 for the header gives the file line of simple CSVs.
                yield record_article(record, path, row + 1, options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        yield ReadError(str(path), None, f"cannot parse CSV: {str(exc).strip()}")


def _iter_parquet(path: Path, options: ReadOptions) -> Iterator[Article | ReadError]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        yield ReadError(str(path), None, f"cannot read Parquet: {exc}")
        return
    names = pf.schema_arrow.names
    _check_columns(path, names, options)
    wanted = [c for c in (options.text_col, options.id_col, options.title_col, options.source_col,
                          options.url_col, options.date_col) if c and c in names]
    row = 0
    for batch in pf.iter_batches(batch_size=options.chunk_rows, columns=wanted):
        for record in batch.to_pylist():
            row += 1
            yield record_article(record, path, row, options)


def _iter_file(path: Path, options: ReadOptions) -> Iterator[Article | ReadError]:
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES and os.path.getsize(path) == 0:
        raise ValueError("empty file")
    if suffix == ".jsonl":
        yield from _iter_jsonl(path, options)
    elif suffix == ".csv":
        yield from _iter_csv(path, options)
    elif suffix == ".parquet":
        yield from _iter_parquet(path, options)
    elif suffix in HTML_SUFFIXES:
        yield _html_article(path, _read_text(path))
    else:
        yield Article(text=_read_text(path), source_path=str(path))


def iter_articles(inputs: list[str], options: ReadOptions) -> Iterator[Article | ReadError]:
    """Stream articles from files, directories and globs.

    Inputs: paths or glob patterns; `options` names the columns of tabular files.
    Yields one Article per txt/html file or per jsonl/csv/parquet record, and a ReadError
    (path, line or None, message) for every input, line or record that was skipped.
    Never raises for bad input.
    """
    for item in expand_inputs(inputs):
        if isinstance(item, ReadError):
            yield item
            continue
        try:
            yield from _iter_file(item, options)
        except (ValueError, OSError) as exc:
            yield ReadError(str(item), None, str(exc))
