"""The `stance` command line: one Typer app, one module per command group.

The CLI composes `labeling` (ingestion, Label Studio) and `training` (datasets,
models, tracking, prediction); `labeling` never imports `training`.
"""
from __future__ import annotations

import typer

from training.cli import audit_cmd, demo_cmd, ingest_cmd, label_cmd, predict_cmd, train_cmd

app = typer.Typer(
    name="stance",
    help="Stance Lab: tag news sentences as escalation, de-escalation, accusation, denial.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _register() -> None:
    for module in (ingest_cmd, label_cmd, audit_cmd, train_cmd, predict_cmd, demo_cmd):
        module.register(app)


def main() -> None:
    """Console-script entry point."""
    _register()
    app()
