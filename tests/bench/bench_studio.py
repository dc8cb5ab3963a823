"""Benchmark: the Label Studio loop against a real local server (push, idempotent re-push,
pull into a snapshot) and the pure agreement computation.

Push throughput is compared with batch size 100 measured in the same run; the re-push
row shows what idempotency costs (one task listing, no imports).
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from labeling.schema import load_schema
from labeling.studio.agreement import compute_agreement
from labeling.studio.client import StudioClient
from labeling.studio.config_xml import build_label_config
from labeling.studio.pull import take_snapshot
from labeling.studio.push import ensure_project, existing_by_group, push_groups
from labeling.studio.tasks import group_sentences
from tests.helpers import TAGS
from tests.studio.helpers import fresh_server, sentence


def _row(step: str, tasks: int, batch: int | str, seconds: float, ref: float | None = None) -> dict:
    return {"step": step, "tasks": tasks, "batch": batch, "seconds": round(seconds, 2),
            "tasks_per_s": round(tasks / seconds, 1) if seconds else None,
            "vs_batch_100": round(ref / seconds, 2) if ref else ""}


def _push(client: StudioClient, xml: str, title: str, groups, batch: int) -> tuple[int, float]:
    project, _, _ = ensure_project(client, title, xml)
    start = time.perf_counter()
    push_groups(client, project["id"], groups, {}, batch_size=batch)
    return project["id"], time.perf_counter() - start


def _studio_rows(n: int, batches: list[int], work: Path) -> list[dict]:
    server = fresh_server(work / "ls")
    try:
        client = StudioClient(server.connection)
        xml = build_label_config(load_schema())
        groups = group_sentences([(str(i), sentence(i)) for i in range(n)])[0]
        timings = {b: _push(client, xml, f"bench batch {b}", groups, b) for b in batches}
        ref = timings[100][1]
        rows = [_row("push (new tasks)", n, b, t, ref) for b, (_, t) in timings.items()]
        pid = timings[100][0]
        start = time.perf_counter()
        push_groups(client, pid, groups, existing_by_group(client.tasks(pid, full=False)), batch_size=100)
        rows.append(_row("re-push (all present)", n, 100, time.perf_counter() - start))
        start = time.perf_counter()
        take_snapshot(client.export(pid), TAGS, work / "ann", {"source": "bench"}, client.users())
        rows.append(_row("pull (export + snapshot)", n, "-", time.perf_counter() - start))
        return rows
    finally:
        server.stop()


def _agreement_row(n: int) -> dict:
    rng = random.Random(0)
    rows = [{"id": f"s-{i}", "annotator": a, "labels": [t for t in TAGS if rng.random() < 0.25]}
            for i in range(n) for a in ("ann-a", "ann-b", "ann-c")]
    start = time.perf_counter()
    compute_agreement(rows, TAGS)
    return _row("agreement (3 annotators, pure)", n, "-", time.perf_counter() - start)


def run(quick: bool = False) -> dict:
    """Push/re-push/pull against a real Label Studio and time the agreement maths."""
    n = 200 if quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        rows = _studio_rows(n, [10, 100, 500] if not quick else [10, 100], Path(tmp))
    rows.append(_agreement_row(n * 10))
    return {
        "title": "Label Studio loop (real local server, SQLite, loopback)",
        "rows": rows,
        "notes": [
            "vs_batch_100: speed relative to batch size 100 in the same run (>1 is faster).",
            "The server starts from a migrated copy of its database; start-up is not timed.",
            "Re-push lists the project's tasks and imports nothing: the price of idempotency.",
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=1))
