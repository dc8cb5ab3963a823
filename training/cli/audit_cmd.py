"""`stance label audit`: rank likely labeling mistakes, optionally send them for review."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from labeling.config import CONFIG_DIR, load_config
from labeling.io import write_jsonl
from labeling.schema import load_schema
from labeling.studio.client import connect
from training.cli.common import EXIT_FAILED, USER_ERRORS, StudioConfigOpt, fail
from training.labeled import load_labeled

AUDIT_VERSION = "audit:given-tags"


def register(label_app: typer.Typer) -> None:
    """Add `audit` to the `label` group (the one label_cmd.register returns)."""
    label_app.command("audit")(audit_cmd)


def _table(items: list[dict[str, Any]], top: int) -> Table:
    table = Table(title=f"Top {min(top, len(items))} suspected labeling mistakes (lower score = more suspicious)")
    for col in ("#", "score", "id", "sentence", "given", "suspected"):
        table.add_column(col, overflow="fold", max_width=70 if col == "sentence" else None)
    for rank, item in enumerate(items[:top], 1):
        table.add_row(str(rank), f"{item['score']:.3f}", escape(str(item["id"])), escape(item["text"]),
                      ", ".join(item["given"]) or "-", ", ".join(item["suspected"]) or "-")
    return table


def _review_groups(items: list[dict[str, Any]], rows: dict[str, dict], tags: list[str]):
    """Audit items as Label Studio groups, each carrying its given tags as a prediction to correct."""
    from labeling.studio.tasks import Group, build_prediction

    groups, preds = [], {}
    for item in items:
        row = rows[item["id"]]
        record = {"sentence_id": row["id"], "group_id": row["group_id"], "article_id": row["article_id"],
                  "text": row["text"], "for_labeling": True}
        groups.append(Group(representative=record))
        given = {t: 1.0 if t in item["given"] else 0.0 for t in tags}
        preds[row["id"]] = build_prediction(given, {t: 0.5 for t in tags}, AUDIT_VERSION)
    return groups, preds


def _push_review(console: Console, items: list[dict[str, Any]], rows: dict[str, dict], tags: list[str],
                 config: Optional[Path], title: str) -> None:
    from labeling.studio.push import ensure_project, existing_by_group, push_groups
    from labeling.studio.config_xml import build_label_config
    from labeling.studio.settings import load_studio_config

    cfg = load_studio_config(config)
    client = connect(cfg)
    project, _, _ = ensure_project(client, cfg.project_title, build_label_config(load_schema()), cfg.project_id)
    existing = existing_by_group(client.tasks(project["id"], full=False))
    groups, preds = _review_groups(items, rows, tags)
    report = push_groups(client, project["id"], groups, existing, preds, cfg.batch_size, cfg.retries, cfg.retry_backoff_s)
    task_ids = [existing[g.group_id]["id"] for g in groups if g.group_id in existing] + list(report.task_ids)
    view = client.create_review_view(project["id"], title, task_ids)
    console.print(f"review batch: {len(task_ids)} tasks ({report.imported} new) in tab '{title}' "
                  f"(view {view}) at {client.url}/projects/{project['id']}", markup=False)


def audit_cmd(
    labeled: Path = typer.Argument(..., help="Labeled JSONL, a folder of them (e.g. data/gold) or a snapshot."),
    folds: int = typer.Option(5, "--folds", min=2, help="Grouped K-fold: every sentence is scored by a model that never saw it."),
    top: int = typer.Option(25, "--top", min=1, help="How many suspects to show (and push)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the full ranked list as JSONL here."),
    push: bool = typer.Option(False, "--push", help="Send the top N to Label Studio as a review tab."),
    config: Optional[Path] = StudioConfigOpt,
) -> None:
    """Find likely labeling mistakes: out-of-fold baseline probabilities into cleanlab's
    multi-label issue finder. Lists sentence, given tags, suspected tags and a score."""
    from training.audit import out_of_fold_probs, rank_issues
    from training.baseline import BaselineConfig

    console = Console()
    try:
        tags = load_schema().names
        rows = load_labeled(labeled, tags)
        cfg = load_config(BaselineConfig, default=CONFIG_DIR / "baseline.yaml")
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task(f"{folds}-fold out-of-fold baseline", total=folds)
            probs = out_of_fold_probs(rows, tags, folds, cfg, on_fold=lambda _: progress.advance(bar))
        items = rank_issues(rows, tags, probs)
        console.print(_table(items, top))
        flagged = sum(i["flagged"] for i in items)
        console.print(f"{len(rows)} sentences audited, {flagged} flagged by cleanlab's issue filter")
        if out is not None:
            write_jsonl(out, items)
            console.print(f"ranked list: {out}", markup=False)
        if push:
            _push_review(console, items[:top], {r["id"]: r for r in rows}, tags, config, f"Audit {labeled.name}")
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED) from None
