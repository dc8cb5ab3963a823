"""The `stance` command line: one Typer app, one module per command group.

The CLI composes `labeling` (ingestion, Label Studio) and `training` (datasets,
models, tracking, prediction); `labeling` never imports `training`, and no library
module imports the CLI.
"""
from __future__ import annotations

import typer

from training.cli import (audit_cmd, backend_cmd, dataset_cmd, demo_cmd, evaluate_cmd, ingest_cmd, label_cmd, models_cmd,
                          predict_cmd, runs_cmd, train_cmd)


def build_app() -> typer.Typer:
    """A fresh `stance` app with every command group registered (no module-level state)."""
    app = typer.Typer(
        name="stance",
        help="Stance Lab: tag news sentences as escalation, de-escalation, accusation, denial.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
    )
    ingest_cmd.register(app)
    label_app = label_cmd.register(app)
    for label_module in (audit_cmd, backend_cmd):
        label_module.register(label_app)
    for module in (dataset_cmd, train_cmd, models_cmd, evaluate_cmd, runs_cmd, predict_cmd, demo_cmd):
        module.register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
