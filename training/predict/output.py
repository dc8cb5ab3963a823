"""Streaming, resumable output for `stance predict`.

While a run is going, each scored chunk is committed as its own Parquet part in a
*partial directory* beside the target (`.<name>.partial/`), together with the chunk's
input errors, the content fingerprints of the input units it consumed, and a manifest saying
how many input units are done. An interrupted run therefore loses at most the chunk in
flight, and `--resume` continues after the last committed part without rescoring or
duplicating anything, once every unit already done is checked unchanged. When every input is done the
parts are streamed into the target (JSONL, CSV or Parquet by extension) through a
temporary file that is renamed over it, so the target is never half-written.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from labeling.io import atomic_open, atomic_path, write_jsonl

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
ID_COLUMNS = ["article_id", "sentence_id", "index", "text", "labels"]
MANIFEST = "manifest.json"
# 2: every done unit's content fingerprint is kept (part-N.done.json); the model is its content.
MANIFEST_VERSION = 2
# CSV has no list type; ';' never occurs in a tag name (labeling.schema), so it is unambiguous.
CSV_LIST_SEP = ";"


class ResumeError(ValueError):
    """The partial output cannot be continued with this model or these inputs."""


class OutputBusyError(ResumeError):
    """Another run is writing the same output right now."""


@contextlib.contextmanager
def output_lock(target: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on `target` for one run (a `.<name>.lock` file beside it).

    A second run on the same output, which would interleave parts in the partial directory,
    fails at once with OutputBusyError naming the process that holds the lock. The lock file
    is removed when the run ends; one a killed run left is taken over and removed by the next.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.lock"
    while True:
        fh = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise OutputBusyError(f"{target}: another `stance predict` (pid {holder}) is writing this output; "
                                  "wait for it to finish or choose another output path") from None
        # The run before may have removed the file between our open and our lock: a lock on a
        # removed file excludes nobody, so take the one now at the path.
        if _same_file(fh, path):
            break
        fh.close()
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: a waiting run then sees another file
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _same_file(fh: Any, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fh.fileno())
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def output_format(path: Path | str) -> str:
    """The format of an output path from its extension: 'jsonl', 'csv' or 'parquet'.

    Raises ValueError naming the path when the extension is not one of those.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported output extension {suffix or '(none)'!r}; use {', '.join(FORMATS)}")
    return FORMATS[suffix]


def row_schema(tags: Sequence[str]) -> pa.Schema:
    """Arrow schema of the per-sentence output: id columns, then one float column per tag."""
    fields = [
        pa.field("article_id", pa.string()),
        pa.field("sentence_id", pa.string()),
        pa.field("index", pa.int64()),
        pa.field("text", pa.string()),
        pa.field("labels", pa.list_(pa.string())),
    ]
    return pa.schema(fields + [pa.field(t, pa.float64()) for t in tags])


def partial_dir(target: Path | str) -> Path:
    """Where the partial output of `target` is kept while a run is in progress."""
    target = Path(target)
    return target.parent / f".{target.name}.partial"


def _write_json_atomic(path: Path, data: Any) -> None:
    with atomic_open(path) as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)


@dataclass
class PartialRun:
    """The committed state of one (possibly interrupted) run; see the module docstring.

    `units_done` counts input units (articles, read errors, or sentence records) already
    handled; `iter_done` gives each one's file, line and content fingerprint, so that a
    resumed run can check every unit it skips is the one that was scored.
    """

    directory: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def units_done(self) -> int:
        return int(self.manifest["units_done"])

    @property
    def rows_done(self) -> int:
        return int(self.manifest["rows_done"])

    @property
    def errors_done(self) -> int:
        return int(self.manifest["errors_done"])

    @property
    def parts(self) -> int:
        return int(self.manifest["parts"])

    def _part(self, i: int, suffix: str) -> Path:
        return self.directory / f"part-{i:06d}{suffix}"

    @property
    def articles_done(self) -> int:
        return int(self.manifest["articles_done"])

    def commit(self, table: pa.Table, errors: Sequence[dict], units: Sequence[tuple[str, int | None, str]],
               articles: int = 0) -> None:
        """Commit one chunk: its scored rows, its input errors, the units (file, line, content
        fingerprint, in input order) and the number of articles it consumed.

        The part files are written atomically before the manifest, so a crash in between
        leaves an orphan part that the manifest does not count and the next run overwrites.
        """
        i = self.parts
        with atomic_path(self._part(i, ".parquet"), suffix=".tmp") as tmp:
            pq.write_table(table, tmp)
        if errors:
            write_jsonl(self._part(i, ".errors.jsonl"), errors)
        _write_json_atomic(self._part(i, ".done.json"), [list(unit) for unit in units])
        manifest = dict(self.manifest)
        manifest.update(
            parts=i + 1,
            units_done=self.units_done + len(units),
            rows_done=self.rows_done + table.num_rows,
            errors_done=self.errors_done + len(errors),
            articles_done=self.articles_done + articles,
        )
        _write_json_atomic(self.directory / MANIFEST, manifest)
        self.manifest = manifest

    def iter_tables(self) -> Iterator[pa.Table]:
        """The committed parts in order, one Arrow table each."""
        for i in range(self.parts):
            yield pq.read_table(self._part(i, ".parquet"))

    def iter_done(self) -> Iterator[tuple[str, int | None, str]]:
        """The committed input units in order: (file, line or None, content fingerprint)."""
        for i in range(self.parts):
            for source, line, key in json.loads(self._part(i, ".done.json").read_text(encoding="utf-8")):
                yield source, line, key

    def iter_errors(self) -> Iterator[dict]:
        """The committed input errors in order."""
        for i in range(self.parts):
            path = self._part(i, ".errors.jsonl")
            if path.exists():
                with open(path, encoding="utf-8") as fh:
                    for line in fh:
                        yield json.loads(line)

    def discard(self) -> None:
        """Remove the partial directory (after a successful finish)."""
        shutil.rmtree(self.directory, ignore_errors=False)


def open_partial(target: Path | str, identity: dict[str, Any], resume: bool) -> tuple[PartialRun, bool]:
    """Open the partial output of `target`; returns (run, resumed).

    `identity` holds what must not change between an interrupted run and its resumption:
    `tags` (the model's tags, schema order), `model` (its content fingerprint or registered
    version, never its path) and `mode`
    ('articles' or 'sentences'). With `resume` and an existing partial output whose
    identity differs, raises ResumeError naming the difference; without `resume` any
    old partial output is discarded and the run starts from scratch.
    """
    directory = partial_dir(target)
    manifest_path = directory / MANIFEST
    if resume and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        _check_identity(target, manifest, identity)
        return PartialRun(directory, manifest), True
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    manifest = {
        "version": MANIFEST_VERSION,
        **identity,
        "parts": 0,
        "units_done": 0,
        "rows_done": 0,
        "errors_done": 0,
        "articles_done": 0,
    }
    _write_json_atomic(manifest_path, manifest)
    return PartialRun(directory, manifest), False


def _check_identity(target: Path | str, manifest: dict, identity: dict) -> None:
    if manifest.get("version") != MANIFEST_VERSION:
        raise ResumeError(f"{target}: the partial output has format version {manifest.get('version')!r}; rerun without --resume")
    if list(manifest.get("tags", [])) != list(identity["tags"]):
        raise ResumeError(
            f"{target}: the output being resumed has tags {manifest.get('tags')} but the model has "
            f"{list(identity['tags'])}; use the same model or rerun without --resume"
        )
    for key, what in (("model", "model"), ("mode", "input mode")):
        if manifest.get(key) != identity[key]:
            why = " (a model is its content: a model directory replaced at the same path is another model)" if key == "model" else ""
            raise ResumeError(
                f"{target}: the output being resumed was made with {what} {manifest.get(key)!r}, "
                f"not {identity[key]!r}{why}; use the same one or rerun without --resume"
            )


def write_table_stream(tables: Iterable[pa.Table], target: Path | str, schema: pa.Schema) -> int:
    """Stream Arrow tables into `target` (format by extension) atomically; returns rows written.

    JSONL: one object per row. CSV: a header, list columns joined with ';', text that a
    spreadsheet would run as a formula escaped (spreadsheet_safe). Parquet: one file, one row
    group per table. On any error the target is left untouched.
    """
    fmt = output_format(target)
    rows = 0
    if fmt == "parquet":
        with atomic_path(target, suffix=".tmp") as tmp:
            with pq.ParquetWriter(tmp, schema) as writer:
                for table in tables:
                    writer.write_table(table.cast(schema))
                    rows += table.num_rows
        return rows
    with atomic_open(target) as fh:
        writer = csv.writer(fh, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(schema.names)
        for table in tables:
            for record in table.cast(schema).to_pylist():
                if writer is None:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    writer.writerow(_csv_cells(record))
            rows += table.num_rows
    return rows


def _csv_cells(record: dict[str, Any]) -> list[Any]:
    cells = []
    for value in record.values():
        if isinstance(value, list):
            value = CSV_LIST_SEP.join(str(v) for v in value)
        cells.append("" if value is None else spreadsheet_safe(value))
    return cells


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# =HYPERLINK(...) in a scraped sentence would become a live link, or worse.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a string starting with =, +, -, @, a tab or
    a carriage return gets a leading apostrophe (OWASP's advice); numbers and other text pass."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_errors(errors: Iterable[dict], target: Path | str) -> int:
    """Write error records as JSONL atomically; returns how many were written."""
    return write_jsonl(target, errors)
