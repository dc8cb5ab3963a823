"""What every `stance` command shares: the user-error set, the error line, exit codes,
option blocks, the tracking store and the metrics table.

Command modules import from here, never from each other.
"""
from __future__ import annotations

import contextlib
import math
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


def macro_interval(m: dict[str, Any]) -> str:
    """Macro-F1 of one evaluate_predictions result with its 95% interval: '0.799 [0.760, 0.830]', or "-"."""
    if math.isnan(m["macro_f1"]):
        return "-"
    return f"{m['macro_f1']:.3f} [{m['macro_f1_low']:.3f}, {m['macro_f1_high']:.3f}]"


def metrics_table(summary: dict[str, Any], title: str | None = None) -> Table:
    """Per-tag precision/recall/F1 with its 95% bootstrap interval/PR-AUC, and micro/macro F1
    with intervals, of the test split (or validation when there is no test). Fits 80 columns."""
    test = summary.get("test") or summary.get("validation")
    split = "test" if summary.get("test") else "validation"
    table = Table(title=f"{title or split + ' set'} ({test['n']} sentences)")
    for col in ("tag", "precision", "recall", "F1 [95% CI]", "PR-AUC", "n"):
        table.add_column(col, justify="right" if col != "tag" else "left", no_wrap=True)

    def with_ci(value: float, low: float | None, high: float | None) -> str:
        if math.isnan(value):
            return "-"  # nothing to score, as training.runs.fmt prints it
        return f"{value:.3f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None and not math.isnan(low) else "")

    for tag, m in test["per_tag"].items():
        table.add_row(tag, f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                      with_ci(m["f1"], m.get("f1_low"), m.get("f1_high")), f"{m['pr_auc']:.3f}", str(m["support"]))
    table.add_section()
    for avg in ("macro", "micro"):
        table.add_row(f"{avg} F1", "", "", with_ci(test[f"{avg}_f1"], test[f"{avg}_f1_low"], test[f"{avg}_f1_high"]), "", "")
    if "exact_match" in test:
        table.add_row("exact match", "", "", f"{test['exact_match']:.3f}", "", "")
    return table
