"""`stance evaluate MODEL_URI LABELED`: score a labeled file with a model, optionally log to its run."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from training.cli.common import TrackingOpt, macro_interval, metrics_table, store_uri, user_errors


def evaluate(
    model_uri: str = typer.Argument(..., help="models:/NAME@alias, models:/NAME/VERSION, runs:/..., or a model directory."),
    labeled: Path = typer.Argument(..., help="Labeled JSONL, a folder of them, a snapshot directory, or a dataset "
                                               "directory from `stance dataset build` (see --split)."),
    split: Optional[str] = typer.Option(None, "--split", help="With a dataset directory: the split to score "
                                                              "(train, validation, test; default test)."),
    exclude_train: bool = typer.Option(False, "--exclude-train", help=(
        "Drop the sentences the model saw in training or validation (its lineage.json) before scoring.")),
    log_to_run: bool = typer.Option(False, "--log-to-run", help="Log the metrics and plots to the model's MLflow run."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples for the 95% intervals."),
    by: list[str] = typer.Option([], "--by", help=(
        "Also report each slice of a field of the labeled rows: a field name (kind, source, register...), "
        "FIELD:prefix for the part before the first '-' (article_id:prefix), or file (one slice per *.jsonl "
        "of a folder). Repeat for several fields.")),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Score a labeled file with a model: per-tag P/R/F1/PR-AUC, micro/macro F1 with 95% intervals.

    With --by, also macro-F1, exact match and per-tag F1 for each slice, to see where a model fails:
    `stance evaluate models/champion data/my-labeled/ --by file --by kind`.
    """
    from training import tracking
    from training.evaluate import evaluate_scorer, evaluate_slices, slice_key
    from training.labeled import load_labeled
    from training.metrics import flatten_metrics
    from training.registry import load_model

    console = Console()
    with user_errors(console):
        store = store_uri(tracking_uri, check=False)
        loaded = load_model(model_uri, store)
        keep = sorted({slice_key(b)[0] for b in by})
        rows, what = _load_rows(labeled, split, loaded.scorer.tags, keep)
        rows, leak = _check_overlap(console, loaded, rows, exclude_train)
        probs = loaded.scorer.predict_proba([r["text"] for r in rows])  # scored once for every table
        metrics, figures = evaluate_scorer(loaded.scorer, rows, n_boot=bootstrap, probs=probs)
        sliced = {b: evaluate_slices(loaded.scorer, rows, b, n_boot=bootstrap, probs=probs) for b in by}
        if log_to_run:
            if not loaded.run_id:
                raise ValueError(f"{model_uri} has no MLflow run to log to; use a models:/ or runs:/ URI")
            prefix = f"eval_{Path(labeled).stem}_"
            flat = flatten_metrics(metrics, prefix)
            for b, slices in sliced.items():
                for name, m in slices.items():
                    if name != "(all)":
                        flat.update(flatten_metrics(m, f"{prefix}{_metric_name(b)}_{_metric_name(name)}_"))
            tracking.log_to_existing_run(store, loaded.run_id, flat,
                                         {f"plots/{prefix}{k}": v for k, v in figures.items()},
                                         tags={f"{prefix}overlap": leak} if leak else None)
    console.print(metrics_table({"test": metrics}, title=what))
    for b, slices in sliced.items():
        console.print(_slice_table(b, slices, loaded.scorer.tags))
    who = f"{loaded.name or model_uri}" + (f" v{loaded.version}" if loaded.version else "")
    console.print(f"model {escape(who)} ({loaded.scorer.kind}) on {escape(str(labeled))}: macro-F1 {macro_interval(metrics)}"
                  + (f" [bold red](inflated: {escape(leak)})[/]" if leak and not exclude_train else ""), soft_wrap=True)
    if log_to_run:
        console.print(f"logged to run {loaded.run_id}")


def _load_rows(labeled: Path, split: Optional[str], tags: list[str], keep: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Labeled rows of a file/folder/snapshot, or of one split of a saved dataset directory, and
    what they are in a table title."""
    from training.dataset import SPLITS, is_dataset_dir, load_dataset_splits
    from training.labeled import load_labeled

    if not is_dataset_dir(labeled):
        if split is not None:
            raise ValueError(f"--split {split}: {labeled} is not a dataset directory (`stance dataset build` writes one)")
        return load_labeled(labeled, tags, keep=keep), labeled.name
    split = split or "test"
    if split not in SPLITS:
        raise ValueError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    splits, _ = load_dataset_splits(labeled, tags, against="the model")
    if not splits.get(split):
        raise ValueError(f"{labeled}: split {split!r} is empty")
    return splits[split], f"{labeled.name} {split} split"


def _check_overlap(console: Console, loaded: Any, rows: list[dict[str, Any]],
                   exclude: bool) -> tuple[list[dict[str, Any]], str]:
    """Warn (and with `exclude`, drop) rows the model saw in training or validation.

    Returns (rows to score, a one-line overlap summary, "" when there is none).
    """
    from training.lineage import overlap, read_lineage

    lineage = read_lineage(getattr(loaded.scorer, "model_dir", None))
    if lineage is None:
        console.print("[yellow]note:[/] the model records no training data (trained before lineage.json); "
                      "overlap with its training split not checked")
        if exclude:
            raise ValueError("--exclude-train needs a model that records its training data; retrain it")
        return rows, ""
    found = overlap(lineage, rows)
    seen = sorted(i for idx in found.values() for i in idx)
    if not seen:
        return rows, ""
    share = len(seen) / len(rows)
    leak = ", ".join(f"{len(idx)} in {name}" for name, idx in found.items() if idx)
    summary = f"{len(seen)} of {len(rows)} sentences ({share:.0%}) seen by the model: {leak}"
    if exclude:
        drop = set(seen)
        kept = [r for i, r in enumerate(rows) if i not in drop]
        if not kept:
            raise ValueError(f"--exclude-train: every sentence was seen by the model ({summary})")
        console.print(f"[yellow]--exclude-train:[/] dropped {summary}; scoring the {len(kept)} unseen sentences")
        return kept, summary
    console.print(f"[bold red]WARNING: {summary} (data {lineage.get('fingerprint')}). "
                  f"The figures below are inflated; use --exclude-train to score only unseen sentences.[/]",
                  soft_wrap=True)
    return rows, summary


def _metric_name(text: str) -> str:
    """A slice or field name as MLflow accepts it in a metric key."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text).strip("_") or "none"


def _slice_table(by: str, slices: dict[str, dict[str, Any]], tags: list[str]) -> Table:
    from training.runs import fmt

    table = Table(title=f"by {by}")
    for col in ("slice", "n", "macro-F1 [95% CI]", "exact", *tags):
        table.add_column(col, justify="left" if col == "slice" else "right")
    for name, m in slices.items():
        if name == "(all)":
            table.add_section()
        cells = [fmt(m["per_tag"][t]["f1"]) for t in tags]
        table.add_row(escape(name), str(m["n"]), macro_interval(m),
                      f"{m['exact_match']:.3f}", *cells)
    return table


def register(app: typer.Typer) -> None:
    """Add `evaluate` to the top-level app."""
    app.command("evaluate")(evaluate)
