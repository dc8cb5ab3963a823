"""Reading articles: files, directories and globs of txt, html, jsonl, csv and parquet.

`iter_articles` streams: one `Article` per txt/html file or per jsonl/csv/parquet record,
or a `ReadError` naming the file (and line or row) for anything that cannot be read, so
that one bad input never stops the rest. Tabular files are read in chunks, so memory
stays flat however large the file is.
"""
from __future__ import annotations

import codecs
import errno
import glob
import json
import os
import re
import stat
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


def folder_files(folder: Path, suffixes: set[str] | tuple[str, ...]) -> tuple[list[Path], list[ReadError]]:
    """The entries under `folder` (recursively; links to folders are not entered) whose suffix is
    in `suffixes`, sorted, and a ReadError for each folder that cannot be listed (its files are
    skipped, the others still read)."""
    errors: list[ReadError] = []

    def unreadable(exc: OSError) -> None:
        errors.append(ReadError(str(exc.filename), None, f"cannot read folder: {exc.strerror or exc}; its files skipped"))

    files = [Path(top, name) for top, _, names in os.walk(folder, onerror=unreadable)
             for name in names if Path(name).suffix.lower() in suffixes]
    return sorted(files), errors


_SPECIAL_FILES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"))


def stat_input(path: Path) -> os.stat_result | ReadError:
    """The stat of an input file (through links), or a ReadError saying why it cannot be read:
    missing, a broken or looping symbolic link, or not a regular file (a FIFO, socket or device,
    whose read could block forever, is skipped, never opened)."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return ReadError(str(path), None, "symbolic link loop; skipped")
        if path.is_symlink() and exc.errno == errno.ENOENT:
            return ReadError(str(path), None, f"broken symbolic link (its target {os.readlink(path)} does not exist); skipped")
        if exc.errno == errno.ENOENT:
            return ReadError(str(path), None, "no such file or directory")
        return ReadError(str(path), None, f"cannot read: {exc.strerror or exc}")
    for test, what in _SPECIAL_FILES:
        if test(info.st_mode):
            return ReadError(str(path), None, f"not a regular file ({what}); skipped")
    return info


def expand_inputs(inputs: list[str]) -> Iterator[Path | ReadError]:
    """Expand files, directories (recursively, sorted) and glob patterns into file paths.

    Yields a ReadError for a path that does not exist, a glob that matches nothing, a folder
    that cannot be listed, a broken or looping symbolic link, a FIFO or device (stat_input), or
    a file whose type is not supported; the other inputs are still yielded. Each file is
    yielded once even if named twice.
    """
    seen: set[tuple[int, int]] = set()
    reported: set[str] = set()
    for item in inputs:
        if glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                yield ReadError(item, None, "no files match this pattern")
            candidates = [Path(m) for m in matches]
        else:
            candidates = [Path(item)]
        for path in candidates:
            if path.is_dir():
                files, errors = folder_files(path, SUPPORTED_SUFFIXES)
                yield from errors
                if not files and not errors:
                    yield ReadError(str(path), None, "directory holds no supported files (txt, html, jsonl, csv, parquet)")
            else:
                files = [path]
            for f in files:
                # Device and inode name the file itself (through links and relative paths) in one stat call.
                info = stat_input(f)
                if isinstance(info, ReadError):
                    if info.path not in reported:
                        reported.add(info.path)
                        yield info
                    continue
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


def table_encoding(path: Path) -> str:
    """The encoding to read a table file (CSV) with: UTF-8 when every line is, or when most lines
    with non-ASCII bytes are (the others are then bad rows, reported one by one); otherwise the
    encoding charset-normalizer finds for the non-UTF-8 lines, as decode_bytes does for a text file.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        try:
            for block in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8-sig"
        except UnicodeDecodeError:
            pass
        fh.seek(0)
        utf8_lines, other_lines, sample = 0, 0, bytearray()
        for raw in fh:
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                utf8_lines += 1
            except UnicodeDecodeError:
                other_lines += 1
                if len(sample) < _SNIFF_BYTES:
                    sample += raw
    if utf8_lines >= other_lines:
        return "utf-8-sig"
    best = charset_normalizer.from_bytes(bytes(sample)).best()
    return best.encoding if best is not None and best.encoding else "utf-8-sig"


# What surrogateescape makes of bytes the encoding does not explain: a row holding one is skipped.
_UNDECODED = re.compile("[\udc80-\udcff]")


def _check_columns(path: Path, columns: list[str], options: ReadOptions) -> None:
    if options.text_col not in columns:
        raise ValueError(f"missing text column {options.text_col!r} (columns: {', '.join(columns)}); use --text-col")


def _iter_csv(path: Path, options: ReadOptions) -> Iterator[Article | ReadError]:
    import pandas as pd

    encoding = table_encoding(path)
    try:
        # Bytes the encoding does not explain survive as surrogates (object columns keep them), so
        # one bad row is reported and skipped instead of the whole file.
        reader = pd.read_csv(path, dtype=object, keep_default_na=False, chunksize=options.chunk_rows,
                             encoding=encoding, encoding_errors="surrogateescape")
        row = 0
        for chunk in reader:
            _check_columns(path, list(chunk.columns), options)
            for record in chunk.to_dict(orient="records"):
                row += 1
                # Row numbers count data rows; +1 for the header gives the file line of simple CSVs.
                if any(isinstance(v, str) and _UNDECODED.search(v) for v in record.values()):
                    name = "UTF-8" if encoding.startswith("utf-8") else encoding
                    yield ReadError(str(path), row + 1, f"not valid {name} text; row skipped")
                    continue
                yield record_article(record, path, row + 1, options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        yield ReadError(str(path), None, f"cannot parse CSV: {str(exc).strip()}")


def parquet_rows(path: Path | str, pf: Any, batch_size: int, columns: list[str] | None = None
                 ) -> Iterator[tuple[int, dict[str, Any]] | ReadError]:
    """(1-based row number, record) for each row of the open pyarrow ParquetFile `pf`, streamed
    one row group at a time: a row group that cannot be read becomes one ReadError naming it
    and its rows (the rows read before the damage are kept), and reading goes on with the next.
    """
    import pyarrow as pa

    groups, start = pf.num_row_groups, 0
    for group in range(groups):
        size, done = pf.metadata.row_group(group).num_rows, 0
        try:
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns):
                for record in batch.to_pylist():
                    done += 1
                    yield start + done, record
        except (pa.ArrowException, OSError) as exc:
            yield ReadError(str(path), start + done + 1, f"corrupt Parquet row group {group + 1} of {groups}: rows "
                                                         f"{start + done + 1}-{start + size} skipped ({' '.join(str(exc).split())})")
        start += size


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
    for item in parquet_rows(path, pf, options.chunk_rows, wanted):
        yield item if isinstance(item, ReadError) else record_article(item[1], path, item[0], options)


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
