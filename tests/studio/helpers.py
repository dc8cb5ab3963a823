"""Tiny inline data for the Label Studio tests (no shared data is read)."""
from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

from labeling.config import PROJECT_ROOT
from labeling.studio.server import LOG_FILE, StudioServer, start_server
from tests.helpers import write_jsonl

TEMPLATE = PROJECT_ROOT / ".venv-studio" / "stance-test-template"

TEXTS = [
    "Moscow warned that it would deploy missiles near the border.",
    "The two sides agreed to resume talks next month.",
    "The ministry accused its neighbour of violating the ceasefire.",
    "The Kremlin denied reports of troop movements.",
    "The meeting took place in Stockholm.",
    "Officials said new sanctions would follow.",
]


def sentence(i: int, group: int | None = None, article: int = 1, for_labeling: bool = True, **extra) -> dict:
    """One sentence record as `stance ingest` writes it."""
    rec = {
        "sentence_id": f"s-{i:016x}", "article_id": f"a-{article:016x}", "index": i,
        "text": TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else f" ({i})"),
        "start": 0, "end": 10, "prev_text": None if i == 0 else f"Previous sentence {i}.",
        "next_text": f"Next sentence {i}.", "kind": "body", "lang": "en", "for_labeling": for_labeling,
        "group_id": f"g-{(i if group is None else group):016x}", "title": f"Article {article}",
        "source": "Example Wire", "url": f"https://example.org/{article}", "date": "2024-03-01",
        "source_path": f"raw/{article}.html",
    }
    rec.update(extra)
    return rec


def write_sentences(path: Path, records: list[dict]) -> Path:
    """Sentence records as `stance ingest` writes them, one JSON object a line."""
    return write_jsonl(path, records)


def choices(*tags: str) -> list[dict]:
    """An annotation/prediction result choosing `tags`."""
    return [{"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": list(tags)}}]


def export_task(task_id: int, sid: str, annotations: list[dict], text: str = "A sentence.") -> dict:
    """One task of a Label Studio JSON export."""
    return {"id": task_id, "data": {"text": text, "sentence_id": sid, "group_id": f"g-{sid}",
                                    "article_id": "a-1"}, "annotations": annotations}


def ann(ann_id: int, user: int, *tags: str, cancelled: bool = False, ground_truth: bool = False) -> dict:
    return {"id": ann_id, "completed_by": user, "result": [] if cancelled else choices(*tags),
            "was_cancelled": cancelled, "ground_truth": ground_truth}


def migrated_template() -> Path:
    """A migrated Label Studio data directory with an admin, built once and reused
    (Label Studio's first start spends about two minutes on migrations); locked against parallel runs."""
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with open(TEMPLATE.parent / "stance-test-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TEMPLATE / "ready").exists():
            shutil.rmtree(TEMPLATE, ignore_errors=True)
            start_server(TEMPLATE, timeout_s=600).stop()
            (TEMPLATE / "ready").touch()
    return TEMPLATE


def fresh_server(data_dir: Path) -> StudioServer:
    """Start a real Label Studio on a free loopback port from a copy of the migrated template."""
    shutil.copytree(migrated_template(), data_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(LOG_FILE, "ready", "*.lock"))
    return start_server(data_dir, timeout_s=300)
