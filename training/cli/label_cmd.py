"""`stance label config|guide|push|pull|agreement|add-user`: the Label Studio labeling loop.

The commands compose `labeling.studio` (pure builders + the one client) with the
training side only for pre-annotations (`--model`), which arrive as plain data.
`register` returns the `label` group, so other modules (audit_cmd) add commands to it.
"""
from __future__ import annotations

import json
import math
import secrets
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from labeling.io import atomic_open, check_writable
from labeling.schema import annotation_guide_html, annotation_guide_markdown, load_schema
from labeling.studio.agreement import agreement_report, compute_agreement, write_heatmap
from labeling.studio.client import StudioError, connect
from labeling.studio.config_xml import build_label_config
from labeling.studio.export import ExportError
from labeling.studio.pull import read_export_file, take_snapshot
from labeling.studio.push import (QUEUE_VIEW, ensure_project, ensure_queue_view, existing_by_group, is_annotated,
                                  project_settings, push_groups, queue_settings, read_sentences,
                                  sync_project_settings, write_import_file)
from labeling.studio.server import create_annotator
from labeling.studio.settings import load_studio_config, resolve_connection, resolve_path
from labeling.studio.snapshot import ANNOTATIONS, latest_snapshot, read_rows
from labeling.studio.tasks import STRATEGIES, group_sentences, select_groups
from training.cli.common import EXIT_FAILED, EXIT_USAGE, USER_ERRORS, SchemaOpt, StudioConfigOpt, fail, store_uri



def register(app: typer.Typer) -> typer.Typer:
    """Add the `label` command group to the top-level app and return it."""
    label_app = typer.Typer(help="Label in Label Studio: generated project, push, pull, agreement, "
                                 "the ML backend (serve, connect).",
                            no_args_is_help=True)
    label_app.command("config")(config_cmd)
    label_app.command("guide")(guide_cmd)
    label_app.command("push")(push_cmd)
    label_app.command("pull")(pull_cmd)
    label_app.command("agreement")(agreement_cmd)
    label_app.command("add-user")(add_user_cmd)
    app.add_typer(label_app, name="label")
    return label_app


def _console() -> Console:
    return Console()


def config_cmd(
    schema: Optional[Path] = SchemaOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the XML here instead of printing it."),
) -> None:
    """Print the Label Studio labeling config generated from the label schema."""
    console = _console()
    try:
        xml = build_label_config(load_schema(schema))
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)
    if out is None:
        typer.echo(xml, nl=False)
        return
    with atomic_open(out) as fh:
        fh.write(xml)
    console.print(f"wrote {out}", markup=False)


def guide_cmd(
    schema: Optional[Path] = SchemaOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the page here (the project's copy: "
                                       "docs/annotation-guide.md) instead of printing it."),
) -> None:
    """Print the annotation guide generated from the label schema: each tag's definition, cues,
    examples and borderline rules (Label Studio shows the same text behind its Instructions button)."""
    console = _console()
    try:
        page = annotation_guide_markdown(load_schema(schema))
        if out is not None:
            check_writable(out)
            with atomic_open(out) as fh:
                fh.write(page)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)
    if out is None:
        typer.echo(page, nl=False)
    else:
        console.print(f"wrote {out}", markup=False)


def _predictions(model_uri: str, groups: list, tags: list[str], console: Console) -> tuple[dict, str]:
    """Score the groups' representatives with the model, loaded the way the ML backend loads it
    (training.studio_backend.serving): (sentence_id -> prediction, model version)."""
    from training.studio_backend.serving import load_serving

    serving = load_serving(model_uri, tags, store_uri(check=False))  # the store of configs/tracking.yaml
    with console.status(Text(f"scoring {len(groups)} sentences with {serving.model_version}")):
        preds = serving.predictions([g.representative["text"] for g in groups])
    return {g.sentence_id: p for g, p in zip(groups, preds)}, serving.model_version


def _push_summary(console: Console, title: str, rows: list[tuple[str, Any]]) -> None:
    table = Table(title=title, show_header=False)
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console.print(table)


def push_cmd(
    sentences: Path = typer.Argument(..., help="Sentence records from `stance ingest` (.jsonl or .parquet)."),
    to_file: Optional[Path] = typer.Option(None, "--to-file", help="Write a Label Studio import JSON instead of "
                                           "talking to a server."),
    model: Optional[str] = typer.Option(None, "--model", help="Model URI (e.g. models:/stance@champion or a model "
                                        "directory): the pushed tasks, new and already in the project, get its "
                                        "prediction, and Label Studio serves the lowest score first."),
    next_n: Optional[int] = typer.Option(None, "--next", min=1, help="Push only the N most useful sentences not "
                                         "annotated yet (new ones and tasks in the project without annotations)."),
    strategy: str = typer.Option("random", "--strategy", help=f"How --next picks: {' | '.join(STRATEGIES)} "
                                 "(every strategy but random needs --model)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Tasks per import request."),
    config: Optional[Path] = StudioConfigOpt,
    schema: Optional[Path] = SchemaOpt,
) -> None:
    """Import one task per duplicate group (pushing again never creates duplicates); with --model,
    pre-annotate them; with --next, only the N most useful sentences not annotated yet."""
    console = _console()
    try:
        cfg = load_studio_config(config, batch_size=batch_size)
        label_schema = load_schema(schema)
        if strategy not in STRATEGIES:
            raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if strategy != "random" and next_n and not model:
            raise ValueError(f"--strategy {strategy} needs --model (it ranks by the model's scores)")
        groups, skipped = group_sentences(read_sentences(sentences))
        if to_file is not None:
            _push_file(console, to_file, groups, skipped, model, next_n, strategy, cfg, label_schema.names)
        else:
            _push_server(console, cfg, label_schema, groups, skipped, model, next_n, strategy)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)


def _choose(console, groups, model, next_n, strategy, cfg, tags) -> tuple[list, dict, str | None]:
    """(chosen groups, their predictions, model version): with a model, the chosen groups come
    lowest score (most uncertain) first, the order Label Studio serves them in."""
    if not model:
        return select_groups(groups, next_n, strategy, None, cfg.seed), {}, None
    preds, version = _predictions(model, groups, tags, console)
    scores = {sid: p["score"] for sid, p in preds.items()}
    chosen = select_groups(groups, next_n, strategy, scores, cfg.seed)
    chosen.sort(key=lambda g: scores[g.sentence_id])  # stable: input order among equal scores
    return chosen, {g.sentence_id: preds[g.sentence_id] for g in chosen}, version


def _push_file(console, target, groups, skipped, model, next_n, strategy, cfg, tags) -> None:
    chosen, preds, _ = _choose(console, groups, model, next_n, strategy, cfg, tags)
    n = write_import_file(target, chosen, preds)
    _push_summary(console, "push (file mode)", [("groups in input", len(groups)), ("not for labeling", skipped),
                                                ("tasks written", n), ("with predictions", len(preds)),
                                                ("file", target)])


def _push_server(console, cfg, label_schema, groups, skipped, model, next_n, strategy) -> None:
    tags = label_schema.names
    client = connect(cfg)
    found = client.find_project(cfg.project_title, cfg.project_id)
    existing = existing_by_group(client.tasks(found["id"], full=bool(model))) if found else {}
    # --next picks among the sentences nobody annotated yet: new ones and tasks already imported
    candidates = [g for g in groups if not is_annotated(existing.get(g.group_id))] if next_n else groups
    chosen, preds, version = _choose(console, candidates, model, next_n, strategy, cfg, tags)
    shown = version or (found or {}).get("model_version") or None  # the model whose ticks annotators see
    project, created, updated = ensure_project(client, cfg.project_title, build_label_config(label_schema, shown),
                                               cfg.project_id)
    settings = project_settings(cfg.annotators_per_task, cfg.overlap_share, cfg.overlap_first, None,
                                annotation_guide_html(label_schema))
    changed = sync_project_settings(client, project, settings)
    tab = ensure_queue_view(client, project["id"])
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("import", total=len([g for g in chosen if g.group_id not in existing]))
        report = push_groups(client, project["id"], chosen, existing, preds, cfg.batch_size, cfg.retries,
                             cfg.retry_backoff_s, on_batch=lambda done, total: progress.update(bar, completed=done))
    if version and chosen:  # Label Studio accepts a model version only once predictions of it exist
        changed += sync_project_settings(client, project, queue_settings(version))
    _push_summary(console, f"push to {client.url}", [
        ("project", f"{project['title']} (id {project['id']}{', created' if created else ''}"
                    f"{', config updated' if updated else ''})"),
        ("groups in input", len(groups)), ("not for labeling", skipped),
        ("candidates" if next_n else "selected", f"{len(candidates)} not annotated yet" if next_n else len(chosen)),
        *([("selected", f"{len(chosen)} ({strategy})")] if next_n else []),
        ("already in project", report.already_present), ("imported", report.imported),
        ("batches", report.batches), ("predictions added to existing tasks", report.predictions_added),
        ("overlap", f"{cfg.annotators_per_task} annotators on {settings['overlap_cohort_percentage']}% of the tasks"
                    if cfg.annotators_per_task > 1 else "none (1 annotator per task)"),
        ("settings changed", ", ".join(changed) or "none"), *([("tab created", QUEUE_VIEW)] if tab else []),
        ("open", f"{client.url}/projects/{project['id']}")])
    if version and chosen:
        console.print(Text(f"queue: Label All Tasks serves the tasks pre-annotated by {version} lowest score "
                           f"(most uncertain) first; tab '{QUEUE_VIEW}' shows the scores"))
    reason = _nothing_done(report, groups, skipped, candidates, chosen, next_n, version)
    if reason:
        console.print(Text(f"nothing pushed: {reason}", style="yellow"))


def _nothing_done(report, groups, skipped, candidates, chosen, next_n, version) -> str | None:
    """Why a push imported nothing and added no prediction (None when it did something)."""
    if report.imported or report.predictions_added:
        return None
    if not groups:
        return f"the input has no sentence for labeling ({skipped} not for labeling)"
    if next_n and not candidates:
        return f"all {len(groups)} sentences of the input are in the project and annotated already"
    if version:
        return f"all {len(chosen)} selected tasks already have a prediction from {version}"
    return (f"all {len(chosen)} selected sentences are in the project already; add --model URI to "
            "pre-annotate them")


def pull_cmd(
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="Read a Label Studio JSON export instead "
                                             "of exporting from the server."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Snapshot root (default: annotations_dir "
                                           "in the config, data/annotations)."),
    review: bool = typer.Option(False, "--review", help="Send ties and disagreements back as a review tab "
                                "in the project."),
    config: Optional[Path] = StudioConfigOpt,
    schema: Optional[Path] = SchemaOpt,
) -> None:
    """Export the project into a versioned snapshot and show what changed since the last one."""
    console = _console()
    try:
        cfg = load_studio_config(config)
        tags = load_schema(schema).names
        root = out_dir if out_dir is not None else resolve_path(cfg.annotations_dir)
        if from_file is not None:
            if review:
                raise ValueError("--review needs a server (it cannot be combined with --from-file)")
            export, users, meta, client, project = read_export_file(from_file), None, {"source": str(from_file)}, None, None
        else:
            client = connect(cfg)
            project = client.find_project(cfg.project_title, cfg.project_id)
            if project is None:
                raise StudioError(f"Label Studio at {client.url}: no project titled {cfg.project_title!r}; "
                                  "run `stance label push` first")
            with console.status("exporting"):
                export, users = client.export(project["id"]), client.users()
            meta = {"source": f"{client.url}/projects/{project['id']}", "project_id": project["id"],
                    "project_title": project["title"]}
        outcome = take_snapshot(export, tags, root, meta, users)
        _pull_summary(console, outcome)
        # only for a new snapshot: rerunning an unchanged pull must not open a second review tab
        if review and outcome.written and outcome.result.adjudication:
            ids = [item["task_id"] for item in outcome.result.adjudication]
            view = client.create_review_view(project["id"], f"Review {outcome.snapshot.name}", ids)
            console.print(f"review batch: {len(ids)} tasks in tab 'Review {outcome.snapshot.name}' "
                          f"({client.url}/projects/{project['id']}/data?tab={view})", markup=False)
    except ExportError as exc:  # bad export data: refused before anything is written
        raise fail(console, exc, EXIT_USAGE)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)


def _pull_summary(console: Console, outcome) -> None:
    c, d = outcome.result.counts, outcome.diff
    state = "new snapshot" if outcome.written else "no changes since snapshot"
    console.print(f"{state}: {outcome.snapshot}", soft_wrap=True, highlight=False, markup=False)
    table = Table(title="annotations", show_header=False)
    for key in ("tasks", "labeled", "unlabeled", "unresolved", "annotations", "cancelled", "disputed", "adjudicated"):
        table.add_row(key, str(c.get(key, 0)))
    if outcome.written:
        since = outcome.previous.name if outcome.previous else "nothing"
        table.add_row(f"added since {since}", str(len(d["added"])))
        table.add_row("removed", str(len(d["removed"])))
        table.add_row("relabeled", str(len(d["changed"])))
    console.print(table)
    for sid, old, new in d.get("changed", [])[:20]:
        console.print(f"  relabeled {sid}: {old or ['no stance']} -> {new or ['no stance']}", markup=False)
    if c.get("unresolved"):
        console.print(f"{c['unresolved']} tied sentences are not in labeled.jsonl: they wait in adjudication.jsonl "
                      "until a third annotator or a ground-truth star (Label Studio) decides them", markup=False)
    if outcome.result.adjudication:
        adj = Table(title="for adjudication (ties: unresolved; disagreements: labeled by the majority)")
        for col in ("sentence", "reason", "majority", "votes"):
            adj.add_column(col)
        for item in outcome.result.adjudication[:20]:
            votes = "; ".join(f"{a}: {', '.join(l) or '-'}" for a, l in item["votes"].items())
            majority = "(none: tie)" if item["reason"] == "tie" else ", ".join(item["majority"]) or "no stance"
            adj.add_row(Text(str(item["id"])), item["reason"], majority, Text(votes))
        console.print(adj)


def _fmt(value: float, reason: str | None = None) -> str:
    return (f"n/a ({reason})" if reason else "n/a") if math.isnan(value) else f"{value:.3f}"


def agreement_cmd(
    snapshot: Optional[Path] = typer.Argument(None, help="Snapshot folder (default: the latest under "
                                              "annotations_dir)."),
    heatmap: Optional[Path] = typer.Option(None, "--heatmap", help="PNG path (default: <snapshot>/agreement.png)."),
    config: Optional[Path] = StudioConfigOpt,
    schema: Optional[Path] = SchemaOpt,
) -> None:
    """Krippendorff's alpha per tag and overall, pairwise Cohen's kappa, items per annotator
    (agreement.json in the snapshot; with too few annotators, it says so and why)."""
    console = _console()
    try:
        cfg = load_studio_config(config)
        tags = load_schema(schema).names
        snap = snapshot or latest_snapshot(resolve_path(cfg.annotations_dir))
        if snap is None:
            raise FileNotFoundError(f"no snapshot under {resolve_path(cfg.annotations_dir)}: run `stance label pull`")
        votes = read_rows(snap, ANNOTATIONS)
        if not votes:
            raise ValueError(f"{snap}: no annotations yet: label some tasks in Label Studio, then `stance label pull`")
        result = compute_agreement(votes, tags)
        # a heat-map needs a pair that shares sentences (one annotator against itself says nothing)
        png = None if result.too_few else write_heatmap(result, heatmap or Path(snap) / "agreement.png")
        with atomic_open(Path(snap) / "agreement.json") as fh:
            json.dump(agreement_report(result), fh, indent=2, allow_nan=False)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)
    items = Table(title="items per annotator")
    items.add_column("annotator")
    items.add_column("items", justify="right")
    for name, n in result.items.items():
        items.add_row(Text(name), str(n))
    if result.too_few:
        console.print(items)
        console.print(Text(f"no agreement to measure: {result.too_few}", style="yellow"))
        console.print(f"wrote {Path(snap) / 'agreement.json'} (values null, with the reason)", markup=False)
        return
    console.print(f"snapshot {snap}: {result.shared_items} sentences annotated by two or more", markup=False)
    alpha = Table(title="Krippendorff's alpha (nominal)")
    alpha.add_column("tag")
    alpha.add_column("alpha", justify="right")
    for key, value in result.alpha.items():
        alpha.add_row(key, _fmt(value, result.reasons.get(key)))
    kappa = Table(title="Cohen's kappa (pairs, over shared sentences x tags)")
    for col in ("annotator A", "annotator B", "shared items", "kappa"):
        kappa.add_column(col)
    for (a, b), (k, n) in result.kappa.items():
        kappa.add_row(Text(a), Text(b), str(n), _fmt(k, "no shared sentence" if n == 0 else None))
    for table in (alpha, kappa, items):
        console.print(table)
    console.print(f"heat-map: {png}", markup=False)


def add_user_cmd(
    email: str = typer.Argument(..., help="The annotator's e-mail (their login)."),
    config: Optional[Path] = StudioConfigOpt,
) -> None:
    """Add an annotator through the organisation's invite link (sign-up without it is off:
    only the admin and the users added here can log in); prints their login and password."""
    console = _console()
    try:
        conn = resolve_connection(load_studio_config(config))  # the admin's key: it can fetch the invite
        password = secrets.token_urlsafe(12)
        create_annotator(conn.url, email, password, conn.api_key)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)
    console.print(Text.assemble("added ", (email, "bold"), f" to {conn.url}: log in with password ",
                                (password, "bold"), " (they can change it under Account & Settings)"))
