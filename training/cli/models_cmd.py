"""`stance models promote|export|list`: the MLflow model registry from the command line."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from training.cli.common import TrackingOpt, store_uri, user_errors


def promote(
    name: str = typer.Argument(..., help="Registered model name, e.g. stance-baseline."),
    version: str = typer.Argument(..., help="Version number to point the alias at."),
    alias: str = typer.Option("champion", "--alias", help="Alias to move."),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Move an alias (default champion) to a model version: models:/NAME@ALIAS then loads it."""
    from training import registry

    console = Console()
    with user_errors(console):
        registry.promote(store_uri(tracking_uri), name, version, alias)
    console.print(f"models:/{name}@{alias} -> version {version}", markup=False)


def export(
    uri: str = typer.Argument(..., help="models:/NAME@alias, models:/NAME/VERSION or runs:/RUN_ID/model."),
    out: Path = typer.Option(..., "--out", help="Target directory, e.g. models/stance-baseline (replaced)."),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Copy a registered model out of MLflow as a self-contained MLflow model directory."""
    from training import registry

    console = Console()
    with user_errors(console):
        store = store_uri(tracking_uri)
        registry.download_model(uri, out, store)
        loaded = registry.load_model(str(out), store)  # proves the export loads before we say so
    console.print(Text.assemble(f"exported {uri} to ", (str(out), "bold"),
                                f" ({loaded.scorer.kind}, tags {', '.join(loaded.scorer.tags)})"))


def list_models(tracking_uri: Optional[str] = TrackingOpt) -> None:
    """Registered models, versions, aliases and the runs that produced them."""
    from training import registry

    console = Console()
    with user_errors(console):
        rows = registry.list_models(store_uri(tracking_uri))
    table = Table(title="registered models")
    for col in ("name", "version", "aliases", "run", "created (UTC)"):
        table.add_column(col)
    for r in rows:
        created = datetime.fromtimestamp(r["created"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        table.add_row(*(Text(str(v)) for v in (r["name"], r["version"], ", ".join(r["aliases"]), r["run_id"] or "", created)))
    console.print(table if rows else "no registered models yet: run `stance train baseline ...`")


def register(app: typer.Typer) -> None:
    """Add `models promote|export|list`."""
    models_app = typer.Typer(help="The MLflow model registry: list, promote, export.", no_args_is_help=True)
    models_app.command("promote")(promote)
    models_app.command("export")(export)
    models_app.command("list")(list_models)
    app.add_typer(models_app, name="models")
