"""Input side of the predictor: sentence records (`--sentences`) and the progress estimate.

Records stream from JSONL, CSV or Parquet files (or folders of them); anything unreadable
becomes a RecordError naming the file and line instead of stopping the run.
"""
from __future__ import annotations

import csv
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from labeling.ingest.readers import ReadError, folder_files, parquet_rows, stat_input

RECORD_SUFFIXES = (".jsonl", ".csv", ".parquet")


@dataclass
class Record:
    """One input record (a sentence) and where it came from (`line` is 1-based)."""

    source: str
    line: int
    data: dict[str, Any]


@dataclass
class RecordError:
    """An input that could not be read, with its file and, where known, line."""

    source: str
    line: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "error": self.message}

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


def expand_record_inputs(inputs: Sequence[Path | str]) -> Iterator[Path | RecordError]:
    """Files to read: each file as given, each folder's JSONL/CSV/Parquet files in sorted order;
    a RecordError for a folder that cannot be listed, a missing file, a broken or looping link,
    or a FIFO or device (never opened: reading one could block forever)."""
    for item in map(Path, inputs):
        if item.is_dir():
            files, errors = folder_files(item, RECORD_SUFFIXES)
            yield from (RecordError(e.path, None, e.message) for e in errors)
        else:
            files = [item]
        for path in files:
            checked = stat_input(path)
            yield RecordError(checked.path, None, checked.message) if isinstance(checked, ReadError) else path


def iter_records(inputs: Sequence[Path | str]) -> Iterator[Record | RecordError]:
    """Stream records from JSONL, CSV or Parquet files (or folders of them).

    Never raises for bad input: a missing or unreadable file or folder, a FIFO, an unknown
    extension, a malformed or non-UTF-8 line, a corrupt Parquet row group becomes a RecordError
    naming the file (and line), and reading goes on with the next line, row group or file.
    """
    for path in expand_record_inputs(inputs):
        if isinstance(path, RecordError):
            yield path
            continue
        suffix = path.suffix.lower()
        if suffix not in RECORD_SUFFIXES:
            yield RecordError(str(path), None, f"unsupported extension {suffix!r}; use {', '.join(RECORD_SUFFIXES)}")
        else:
            reader = {".jsonl": _jsonl_records, ".csv": _csv_records, ".parquet": _parquet_records}[suffix]
            try:
                yield from reader(path)
            except OSError as exc:
                yield RecordError(str(path), None, f"cannot read: {exc.strerror or exc}")


def _jsonl_records(path: Path) -> Iterator[Record | RecordError]:
    # Binary lines, decoded one at a time: a non-UTF-8 line costs that line, not the file.
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield RecordError(str(path), lineno, f"not valid UTF-8 (byte {exc.start})")
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RecordError(str(path), lineno, f"malformed JSON: {exc.msg}")
                continue
            if not isinstance(data, dict):
                yield RecordError(str(path), lineno, f"expected a JSON object, got {type(data).__name__}")
                continue
            yield Record(str(path), lineno, data)


def _decoded_lines(fh: BinaryIO, bad: dict[int, int]) -> Iterator[str]:
    """Each physical line decoded on its own, so a bad byte costs its line, not the rest of the file.

    A line that is not UTF-8 is passed on decoded with surrogateescape (the CSV parser keeps its
    place) and its number noted in `bad` with the offset of the first bad byte.
    """
    for lineno, raw in enumerate(fh, 1):
        try:
            yield raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            bad[lineno] = exc.start
            yield raw.decode("utf-8", "surrogateescape")


def _csv_records(path: Path) -> Iterator[Record | RecordError]:
    bad: dict[int, int] = {}
    with open(path, "rb") as fh:
        reader = csv.DictReader(_decoded_lines(fh, bad))
        try:
            if reader.fieldnames is None:  # reading the header; None: an empty file
                return
            if any(line <= reader.line_num for line in bad):
                yield RecordError(str(path), min(bad), f"header not valid UTF-8 (byte {bad[min(bad)]}); file skipped")
                return
            first = reader.line_num + 1
            for data in reader:
                # A record may span lines (quoted newlines): it is bad when any of its lines is.
                broken = [line for line in range(first, reader.line_num + 1) if line in bad]
                if broken:
                    yield RecordError(str(path), broken[0], f"not valid UTF-8 (byte {bad[broken[0]]} of the line)")
                else:
                    yield Record(str(path), reader.line_num, data)
                first = reader.line_num + 1
        except csv.Error as exc:
            yield RecordError(str(path), reader.line_num, f"malformed CSV: {exc}; rest of file skipped")


def _parquet_records(path: Path) -> Iterator[Record | RecordError]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        yield RecordError(str(path), None, f"not a readable Parquet file: {exc}")
        return
    for item in parquet_rows(path, parquet, 4096):
        if isinstance(item, ReadError):
            yield RecordError(str(path), item.line, item.message)
        else:
            yield Record(str(path), item[0], item[1])


def estimate_units(inputs: Sequence[Path | str], table_suffixes: Sequence[str] = RECORD_SUFFIXES) -> int:
    """A cheap estimate of the input units, for the progress bar's ETA.

    Table files count their rows (JSONL lines, CSV lines less the header, Parquet metadata),
    any other file counts one. Unreadable files count one: the run reports them properly.
    """
    total = 0
    for item in map(Path, inputs):
        files = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
        for path in files:
            total += _estimate_file(path, table_suffixes)
    return total


def _estimate_file(path: Path, table_suffixes: Sequence[str]) -> int:
    suffix = path.suffix.lower()
    try:
        if suffix not in table_suffixes or not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block
            return 1
        if suffix == ".parquet":
            return pq.ParquetFile(path).metadata.num_rows
        with open(path, "rb") as fh:
            lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
        return max(lines - (1 if suffix == ".csv" else 0), 1)
    except (OSError, pa.ArrowException):
        return 1
