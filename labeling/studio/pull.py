"""Pull: a Label Studio export -> a versioned snapshot, a diff against the previous one,
and (optionally) the adjudication items sent back as a review batch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from labeling.studio.export import ExportError, ExportResult, parse_export
from labeling.studio.snapshot import diff_rows, latest_snapshot, read_rows, write_snapshot


@dataclass
class PullOutcome:
    """Where the snapshot is, whether it is new, what it says and what changed."""

    snapshot: Path
    written: bool
    result: ExportResult
    previous: Path | None = None
    diff: dict[str, list] = field(default_factory=dict)


def read_export_file(path: Path | str) -> list[dict]:
    """A Label Studio JSON export from disk; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: export file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "Label Studio exports are UTF-8") from None
    if not isinstance(data, list):
        raise ExportError(f"{path}: expected a JSON list of tasks, got {type(data).__name__}")
    return data


def take_snapshot(export: Sequence[Mapping[str, Any]], tags: Sequence[str], root: Path | str,
                  meta: Mapping[str, Any], users: Mapping[int, str] | None = None,
                  now: datetime | None = None) -> PullOutcome:
    """Parse `export` (all checks first: a bad export writes nothing), then write a snapshot
    under `root` unless nothing changed since the latest one, and diff against that one.

    Raises ExportError naming the task on an empty export, a missing sentence_id or an unknown tag.
    """
    try:
        result = parse_export(export, tags, users)
    except ExportError as exc:
        where = meta.get("source")
        raise ExportError(f"{where}: {exc}" if where else str(exc)) from None
    previous = latest_snapshot(root)
    old_rows = read_rows(previous) if previous else []
    snapshot, written = write_snapshot(root, list(export), result, dict(meta, tags=list(tags)),
                                       now=now or datetime.now(timezone.utc))
    diff = diff_rows(old_rows, result.rows) if written else {"added": [], "removed": [], "changed": []}
    return PullOutcome(snapshot=snapshot, written=written, result=result, previous=previous, diff=diff)
