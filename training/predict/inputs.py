"""Input side of the predictor: sentence records (`--sentences`) and the progress estimate.

Records stream from JSONL, CSV or Parquet files (or folders of them); anything unreadable
becomes a RecordError naming the file and line instead of stopping the run.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

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


def expand_record_inputs(inputs: Sequence[Path | str]) -> list[Path]:
    """Files to read: each file as given, each folder's JSONL/CSV/Parquet files in sorted order."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES)
        else:
            files.append(item)
    return files


def iter_records(inputs: Sequence[Path | str]) -> Iterator[Record | RecordError]:
    """Stream records from JSONL, CSV or Parquet files (or folders of them).

    Never raises for bad input: a missing or unreadable file, an unknown extension, a
    malformed or non-UTF-8 line becomes a RecordError naming the file (and line), and
    reading goes on with the next line or file.
    """
    for path in expand_record_inputs(inputs):
        suffix = path.suffix.lower()
        if not path.exists():
            yield RecordError(str(path), None, "no such file")
        elif suffix not in RECORD_SUFFIXES:
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


def _csv_records(path: Path) -> Iterator[Record | RecordError]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            for data in reader:
                yield Record(str(path), reader.line_num, data)
        except UnicodeDecodeError as exc:
            # The text layer cannot resync after a bad byte, so the rest of this file is lost.
            yield RecordError(str(path), reader.line_num + 1, f"not valid UTF-8 (byte {exc.start} of a block); rest of file skipped")
        except csv.Error as exc:
            yield RecordError(str(path), reader.line_num, f"malformed CSV: {exc}; rest of file skipped")


def _parquet_records(path: Path) -> Iterator[Record | RecordError]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        yield RecordError(str(path), None, f"not a readable Parquet file: {exc}")
        return
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=4096):
            for data in batch.to_pylist():
                row += 1
                yield Record(str(path), row, data)
    except (pa.ArrowException, OSError) as exc:
        yield RecordError(str(path), row + 1, f"corrupt Parquet data: {exc}; rest of file skipped")


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
        if suffix not in table_suffixes:
            return 1
        if suffix == ".parquet":
            return pq.ParquetFile(path).metadata.num_rows
        with open(path, "rb") as fh:
            lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
        return max(lines - (1 if suffix == ".csv" else 0), 1)
    except (OSError, pa.ArrowException):
        return 1
