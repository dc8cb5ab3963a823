"""Versioned annotation snapshots under data/annotations/<UTC timestamp>/.

A snapshot holds the raw export (`export.json`), one labeled row per sentence
(`labeled.jsonl`), one row per annotator and sentence (`annotations.jsonl`), the
adjudication list (`adjudication.jsonl`) and `summary.json`. It is written into a
hidden temporary folder and renamed into place, so a failed pull leaves nothing.
A pull whose content equals the latest snapshot writes nothing (reruns are idempotent).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from labeling.io import atomic_dir, read_jsonl, write_jsonl
from labeling.studio.export import ExportResult

LABELED = "labeled.jsonl"
ANNOTATIONS = "annotations.jsonl"
ADJUDICATION = "adjudication.jsonl"
EXPORT = "export.json"
SUMMARY = "summary.json"


def list_snapshots(root: Path | str) -> list[Path]:
    """Complete snapshots under `root`, oldest first (names sort by time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / SUMMARY).exists())


def latest_snapshot(root: Path | str) -> Path | None:
    """The newest complete snapshot, or None."""
    snaps = list_snapshots(root)
    return snaps[-1] if snaps else None


def read_rows(snapshot: Path | str, name: str = LABELED) -> list[dict[str, Any]]:
    """Rows of one JSONL file in a snapshot; errors name the file and line."""
    path = Path(snapshot) / name
    if not path.exists():
        raise FileNotFoundError(f"{snapshot}: not a snapshot (no {name})")
    return [row for _, row in read_jsonl(path)]


def content_hash(result: ExportResult) -> str:
    """A fingerprint of what a snapshot says (rows, votes, adjudication), ignoring when it was taken."""
    blob = json.dumps([result.rows, result.annotations, result.adjudication], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def diff_rows(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> dict[str, list]:
    """What changed between two labeled row lists: added/removed ids and relabeled (id, old, new)."""
    before = {r["id"]: r["labels"] for r in old}
    after = {r["id"]: r["labels"] for r in new}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted((i, before[i], after[i]) for i in set(before) & set(after) if before[i] != after[i]),
    }


def _new_name(root: Path, now: datetime) -> str:
    base = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def write_snapshot(root: Path | str, export: Any, result: ExportResult, meta: dict[str, Any],
                   now: datetime | None = None) -> tuple[Path, bool]:
    """Write a snapshot unless its content equals the latest one.

    Returns (snapshot path, written?). `meta` (project, url, tags...) goes into summary.json
    and must not hold secrets. The folder appears complete or not at all.
    """
    root = Path(root)
    fingerprint = content_hash(result)
    previous = latest_snapshot(root)
    if previous is not None:
        old = json.loads((previous / SUMMARY).read_text(encoding="utf-8"))
        if old.get("content_hash") == fingerprint:
            return previous, False
    root.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(timezone.utc)
    name = _new_name(root, now)
    with atomic_dir(root / name) as tmp:
        (tmp / EXPORT).write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
        write_jsonl(tmp / LABELED, result.rows)
        write_jsonl(tmp / ANNOTATIONS, result.annotations)
        write_jsonl(tmp / ADJUDICATION, result.adjudication)
        summary = dict(meta, created=now.isoformat(), counts=result.counts, content_hash=fingerprint,
                       previous=previous.name if previous else None)
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return root / name, True
