"""What every `stance` command shares: the user-error set, the error line, exit codes,
option blocks, the tracking store and the metrics table.

Command modules import from here, never from each other.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


# Errors a user can act on (bad data, option, config, model URI, store, server): one red
# line, no traceback. ConfigError, LabeledDataError, CVError, SplitError, ExportError,
# ResumeError and BackboneError are ValueErrors; StudioError and TrackingError are
# RuntimeErrors; ImportError is a missing optional extra.
USER_ERRORS = (ValueError, RuntimeError, FileNotFoundError, FileExistsError, ImportError)

EXIT_FAILED = 1  # the command ran but some of its work failed (skipped inputs, a server refused)
EXIT_USAGE = 2  # bad options, data, config or store: refused before any work
EXIT_INTERRUPTED = 130  # Ctrl-C

TrackingOpt = typer.Option(None, "--tracking-uri", help="MLflow store; default MLFLOW_TRACKING_URI, configs/tracking.yaml, "
                                                        "then data/mlflow/mlflow.db.")
StudioConfigOpt = typer.Option(None, "--config", help="Studio settings YAML (default configs/studio.yaml).")
SchemaOpt = typer.Option(None, "--schema", help="Label schema YAML (default configs/labels.yaml).")


def config_opt(what: str, name: str) -> Any:
    """The `--config FILE` option of a command whose defaults live in configs/NAME.

    Unset, the command reads configs/NAME when it is there; a FILE given must exist.
    """
    return typer.Option(None, "--config", help=f"{what} (YAML; default configs/{name}).")


def print_error(console: Console, message: Any) -> None:
    """The one error line: `error: MESSAGE`, kept on one line (copy-paste, grep), markup escaped."""
    console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True, highlight=False)


def fail(console: Console, message: Any, code: int = EXIT_USAGE) -> typer.Exit:
    """Print the error line and return the Exit to raise (`raise fail(...)`)."""
    print_error(console, message)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors(console: Console, code: int = EXIT_USAGE) -> Iterator[None]:
    """Turn USER_ERRORS raised inside the block into the error line and exit `code`."""
    try:
        yield
    except USER_ERRORS as exc:
        raise fail(console, exc, code) from None


def tracking_config() -> Any:
    """configs/tracking.yaml as a TrackingConfig (store, experiment, registered model names)."""
    from training.tracking import load_tracking_config

    return load_tracking_config()


def store_uri(flag: Optional[str] = None, check: bool = True) -> str:
    """The tracking store a command uses: --tracking-uri, MLFLOW_TRACKING_URI, configs/tracking.yaml,
    then the project's SQLite store. With `check`, fails early (TrackingError) when it cannot be
    used; commands that only read a model (evaluate, predict, label push --model) skip the check."""
    from training import tracking

    uri = tracking.resolve_tracking_uri(flag)
    if check:
        tracking.check_reachable(uri)
    return uri


def metrics_table(summary: dict[str, Any]) -> Table:
    """Per-tag precision/recall/F1/PR-AUC and micro/macro F1 with intervals, of the test
    split (or validation when there is no test)."""
    test = summary.get("test") or summary.get("validation")
    split = "test" if summary.get("test") else "validation"
    table = Table(title=f"{split} set ({test['n']} sentences)")
    for col in ("tag", "precision", "recall", "F1", "PR-AUC", "support"):
        table.add_column(col, justify="right" if col != "tag" else "left")
    for tag, m in test["per_tag"].items():
        table.add_row(tag, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                      f"{m['pr_auc']:.3f}", str(m["support"]))
    table.add_section()
    for avg in ("macro", "micro"):
        table.add_row(f"{avg} F1", "", "", f"{test[f'{avg}_f1']:.3f}",
                      f"[{test[f'{avg}_f1_low']:.3f}, {test[f'{avg}_f1_high']:.3f}]", "")
    return table
