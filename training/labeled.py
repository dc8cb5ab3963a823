"""Load and validate labeled sentences: a plain labeled JSONL or a pulled snapshot.

A labeled record is `id, text, labels[, group_id, article_id, annotators]`
(docs/architecture.md). Every problem in the file is collected and reported at once,
each naming file and line, before any training starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from labeling.io import read_jsonl

SNAPSHOT_FILE = "labeled.jsonl"
MAX_REPORTED = 20


class LabeledDataError(ValueError):
    """The labeled input has bad rows; the message lists each with file and line."""


def resolve_labeled_files(path: Path | str) -> list[Path]:
    """The JSONL files behind `path`.

    Accepts a labeled JSONL file; a snapshot directory holding `labeled.jsonl`; a folder
    of snapshots (data/annotations/: the newest, by name, is used); or a folder of
    `*.jsonl` files (all of them, sorted). Raises FileNotFoundError naming the path.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such labeled file or snapshot directory")
    if (path / SNAPSHOT_FILE).is_file():
        return [path / SNAPSHOT_FILE]
    snapshots = sorted(p for p in path.iterdir() if (p / SNAPSHOT_FILE).is_file())
    if snapshots:
        return [snapshots[-1] / SNAPSHOT_FILE]
    files = sorted(path.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{path}: no {SNAPSHOT_FILE}, snapshot or *.jsonl file inside")
    return files


def _check_row(record: dict[str, Any], where: str, known: set[str], tags: Sequence[str],
               keep: Sequence[str] = ()) -> tuple[dict | None, list[str]]:
    errors: list[str] = []
    rid = record.get("id")
    if rid is None or (isinstance(rid, str) and not rid.strip()):
        errors.append(f"{where}: missing field 'id'")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append(f"{where}: empty or missing 'text' (id {rid!r})")
    labels = record.get("labels")
    if not isinstance(labels, list) or not all(isinstance(t, str) for t in labels):
        errors.append(f"{where}: 'labels' must be a list of tag names (id {rid!r})")
        labels = []
    unknown = [t for t in labels if t not in known]
    if unknown:
        errors.append(f"{where}: unknown tag(s) {', '.join(map(repr, unknown))} (id {rid!r}); "
                      f"the schema has {', '.join(tags)}")
    if errors:
        return None, errors
    rid = str(rid)
    row = {
        "id": rid,
        "text": text,
        # schema order, no repeats: the same label set always looks the same
        "labels": [t for t in tags if t in set(labels)],
        "group_id": str(record.get("group_id") or rid),
        "article_id": str(record.get("article_id") or rid),
    }
    for name in keep:
        if name not in row:
            row[name] = record.get(name)
    return row, []


def load_labeled(path: Path | str, tags: Sequence[str], keep: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read labeled rows from a file or snapshot (see resolve_labeled_files) and validate them.

    Returns rows `id, text, labels (schema order), group_id, article_id`, plus each field
    named in `keep` as the record has it (None when absent; `file` is the source file's
    name without `.jsonl`, for slicing a folder of files); a missing
    group_id or article_id is filled from the id (each sentence its own group). An exact
    repeat of an id with the same labels is dropped. Raises LabeledDataError listing
    every bad line with file and line: bytes that are not UTF-8, malformed JSON, missing id,
    empty text, labels not a list, tags not in `tags`, the same id with different labels;
    and when no row is left.
    """
    known = set(tags)
    rows: list[dict[str, Any]] = []
    seen: dict[str, tuple[str, dict]] = {}
    errors: list[str] = []
    files = resolve_labeled_files(path)
    for file in files:
        # Bad lines (not UTF-8, malformed JSON, not an object) are collected with the bad rows: all reported at once.
        for lineno, record in read_jsonl(file, errors):
            where = f"{file}:{lineno}"
            row, row_errors = _check_row({**record, "file": file.stem} if "file" in keep else record,
                                         where, known, tags, keep)
            errors.extend(row_errors)
            if row is None:
                continue
            if row["id"] in seen:
                first_where, first = seen[row["id"]]
                if first["labels"] != row["labels"]:
                    errors.append(f"{where}: duplicate id {row['id']!r} with different labels "
                                  f"({row['labels']} here, {first['labels']} at {first_where})")
                continue
            seen[row["id"]] = (where, row)
            rows.append(row)
    if errors:
        shown = errors[:MAX_REPORTED]
        more = f"\n... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        raise LabeledDataError(f"{len(errors)} bad labeled row(s):\n" + "\n".join(shown) + more)
    if not rows:
        raise LabeledDataError(f"{', '.join(map(str, files))}: no labeled rows")
    return rows


def multi_hot(label_lists: Sequence[Sequence[str]], tags: Sequence[str], ids: Sequence[Any] | None = None,
              dtype: Any = np.int8) -> np.ndarray:
    """(n, k) multi-hot array of `dtype`: row i has tag j. Columns in `tags` order.

    Raises ValueError naming the row (its id from `ids`, else its index) on an unknown tag.
    """
    index = {t: j for j, t in enumerate(tags)}
    y = np.zeros((len(label_lists), len(tags)), dtype=dtype)
    for i, labels in enumerate(label_lists):
        for tag in labels:
            if tag not in index:
                who = ids[i] if ids is not None else i
                raise ValueError(f"row {who!r}: unknown tag {tag!r}; expected one of {', '.join(tags)}")
            y[i, index[tag]] = 1
    return y


def label_matrix(rows: Sequence[dict[str, Any]], tags: Sequence[str]) -> np.ndarray:
    """(n, k) 0/1 int8 array of labeled rows (their `labels`): row i has tag j, columns in `tags` order."""
    return multi_hot([row["labels"] for row in rows], tags)
