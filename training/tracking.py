"""MLflow runs, wired in one place: store resolution, runs, params, metrics, figures, run search.

No other module calls MLflow's logging APIs; models (log, register, promote, load,
export) go through training.registry, which uses this module's store. The default store is a local
SQLite database with an artifact folder in the project (data/mlflow/); --tracking-uri or
MLFLOW_TRACKING_URI point elsewhere, e.g. at a server.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import mlflow
import pandas as pd
from matplotlib.figure import Figure

from labeling.config import CONFIG_DIR, PROJECT_ROOT, StrictModel, load_config

MLFLOW_DIR = PROJECT_ROOT / "data" / "mlflow"
TRACKING_CONFIG = CONFIG_DIR / "tracking.yaml"


class TrackingConfig(StrictModel):
    """Where runs go (configs/tracking.yaml); CLI --tracking-uri and MLFLOW_TRACKING_URI win."""

    tracking_uri: str | None = None
    experiment: str = "stance"
    baseline_model_name: str = "stance-baseline"
    finetune_model_name: str = "stance-finetune"
    distilled_model_name: str = "stance-distilled"
    bootstrap_samples: int = 1000


class TrackingError(RuntimeError):
    """The tracking store cannot be used (unreachable server, unknown model or version)."""


def default_tracking_uri() -> str:
    """sqlite:///<project>/data/mlflow/mlflow.db."""
    return f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}"


def load_tracking_config(path: Path | str | None = None) -> TrackingConfig:
    """`path`, else configs/tracking.yaml, as a TrackingConfig (ConfigError on a missing `path` or bad keys)."""
    return load_config(TrackingConfig, path, default=TRACKING_CONFIG)


def resolve_tracking_uri(flag: str | None = None, cfg: TrackingConfig | None = None) -> str:
    """The store to use: the CLI flag, else MLFLOW_TRACKING_URI, else the config's `tracking_uri`
    (`cfg`, default configs/tracking.yaml), else the project's SQLite store."""
    if flag:
        return flag
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    cfg = cfg if cfg is not None else load_tracking_config()
    return cfg.tracking_uri or default_tracking_uri()


def artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store live in `artifacts/` beside the database file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri()
    return None


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail early, before any training, when the store cannot be used.

    http(s): GET <uri>/health must answer; sqlite: the database folder is created.
    Raises TrackingError naming the URI.
    """
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:
                if resp.status >= 400:
                    raise TrackingError(f"MLflow tracking server {uri} answered HTTP {resp.status}")
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingError(f"MLflow tracking server {uri} is not reachable: {exc}") from None
    elif uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def use_store(uri: str) -> mlflow.MlflowClient:
    """Point MLflow (tracking and registry) at `uri` and return a client for it."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


# MLflow 3's UI opens an experiment on the view its kind asks for; untagged ones it guesses to be
# GenAI (traces). These are model-development runs: open on the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


# The headline figures of a run, logged a second time under short names that fit the UI's column
# headers and group by prefix (the chart view draws a section per prefix): macro_f1/val,
# macro_f1/test, macro_f1/cv (K-fold mean), exact/test, f1/<tag> (test split). The runs view
# below shows them as columns; `stance runs ui` opens it (…/runs?viewStateShareKey=runs), as the
# UI's own "share view" button would.
RUNS_VIEW_KEY = "runs"
_SHARED_VIEW_TAG = "mlflow.sharedViewState."


def headline_metrics(split_metrics: dict[str, dict[str, Any]]) -> dict[str, float]:
    """{"validation": m, "test": m} (training.metrics.evaluate_predictions) -> the headline names."""
    out: dict[str, float] = {}
    for split, short in (("validation", "val"), ("test", "test")):
        m = split_metrics.get(split)
        if not m:
            continue
        out[f"macro_f1/{short}"] = m["macro_f1"]
        if split == "test":
            out["exact/test"] = m["exact_match"]
            out.update({f"f1/{tag}": v["f1"] for tag, v in m["per_tag"].items()})
    return {k: v for k, v in out.items() if not math.isnan(v)}  # nothing to score is not a measurement


def runs_view_state(tags: Sequence[str]) -> str:
    """The JSON of the runs view: model and dataset columns, then the headline metrics."""
    metrics = ["macro_f1/val", "macro_f1/test", "macro_f1/cv", "exact/test", *(f"f1/{t}" for t in tags)]
    columns = ["attributes.`Models`", "attributes.`Dataset`", *(f"metrics.`{m}`" for m in metrics)]
    return json.dumps({"selectedColumns": columns, "columnOrder": columns})


def _experiment_id(client: mlflow.MlflowClient, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location=artifact_root(uri),
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    if EXPERIMENT_KIND_TAG not in exp.tags:  # created by an older version
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def ensure_runs_view(uri: str, experiment: str, tags: Sequence[str]) -> str:
    """Store the runs view with `experiment` (created if missing); return its experiment id."""
    client = use_store(uri)
    exp_id = _experiment_id(client, experiment, uri)
    client.set_experiment_tag(exp_id, _SHARED_VIEW_TAG + RUNS_VIEW_KEY, runs_view_state(tags))
    return exp_id


def runs_view_url(base: str, experiment_id: str) -> str:
    """The page that opens on the runs table (not the GenAI overview) with the headline columns."""
    return (f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"
            f"?workflowType=machine_learning&viewStateShareKey={RUNS_VIEW_KEY}")


def run_name(kind: str, fingerprint: str | None, when: datetime | None = None, suffix: str = "") -> str:
    """What a run is, readable in the runs table: `finetune-3f9a1c-20261203-0812` (kind, the dataset
    fingerprint's first 6 hex, UTC start time), plus e.g. `-cv5` for a K-fold run."""
    when = when or datetime.now(timezone.utc)
    return f"{kind}-{(fingerprint or 'nodata')[:6]}-{when:%Y%m%d-%H%M}{suffix}"


def git_commit() -> str:
    """HEAD of the project checkout, or "unknown" outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


# The process behind a run, as run tags: a run SIGKILL ended stays RUNNING in the store, and
# these tell it from a live one (training.runs.mark_gone_runs).
PID_TAG, HOST_TAG = "stance.pid", "stance.host"


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (`kill PID`, a scheduler stopping the job): unwinds like Ctrl-C."""


class _SigtermAsInterrupt:
    """While installed, SIGTERM raises Terminated, or waits while the run is being opened.

    Python's default SIGTERM ends the process on the spot (no except, no finally), which left the
    run RUNNING forever. A SIGTERM inside `mlflow.start_run` (the run already in the store, the
    call not yet returned) would unwind past every handler that ends the run, so until `arm()` the
    signal is only noted and `arm()` raises it. Only the main thread may set a handler; elsewhere
    this does nothing.
    """

    def __init__(self) -> None:
        self.armed, self.pending = False, None
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.armed:
            self.pending = signum
            return
        raise Terminated(f"terminated by signal {signum}")

    def arm(self) -> None:
        """From here on SIGTERM raises; one that came while disarmed raises now."""
        self.armed = True
        if self.pending is not None:
            raise Terminated(f"terminated by signal {self.pending}")

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


@contextlib.contextmanager
def tracked_run(uri: str, experiment: str, run_name: str | None = None,
                tags: dict[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    """Open a run in `experiment`; a crash ends it FAILED, Ctrl-C or SIGTERM KILLED, never left
    RUNNING. The run is tagged with its process's pid and host (PID_TAG, HOST_TAG)."""
    client = use_store(uri)
    exp_id = _experiment_id(client, experiment, uri)
    process = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    # The handler goes in before the run exists and holds SIGTERM until start_run has returned:
    # a SIGTERM in between left the run RUNNING.
    sigterm = _SigtermAsInterrupt()
    try:
        run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags={**(tags or {}), **process})
        try:
            sigterm.arm()
            mlflow.set_tag("mlflow.source.git.commit", git_commit())
            yield run
        except KeyboardInterrupt:
            mlflow.end_run(status="KILLED")
            raise
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
        mlflow.end_run(status="FINISHED")
    finally:
        sigterm.restore()


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} -> {"a.b": "1"}; lists and tuples become their string form."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:6000]  # MLflow's parameter value limit
    return flat


def log_params(params: dict[str, Any]) -> None:
    """Log a (nested) config once, flattened to dotted keys."""
    mlflow.log_params(flatten(params))


def log_dataset(meta: dict[str, Any], splits: dict[str, Sequence[dict]]) -> None:
    """Log each split as an MLflow dataset input (digest = the content fingerprint) plus sizes."""
    for name, rows in splits.items():
        frame = pd.DataFrame({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                              "labels": [",".join(r["labels"]) for r in rows]})
        with warnings.catch_warnings():
            # MLflow 3 registers its local-file source twice and warns on every existing path
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
            ds = mlflow.data.from_pandas(frame, source=str(meta.get("source", "inline")),
                                         name=f"stance-{meta['fingerprint']}-{name}", digest=meta["fingerprint"])
        mlflow.log_input(ds, context=name)
    mlflow.log_params({"data.fingerprint": meta["fingerprint"],
                       **{f"data.{name}_size": size for name, size in meta["sizes"].items()}})
    mlflow.set_tag("data.fingerprint", meta["fingerprint"])


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log a flat dict of numbers; NaN (undefined) values are skipped."""
    clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not math.isnan(float(v))}
    mlflow.log_metrics(clean, step=step)


def log_history_entry(entry: dict[str, Any], prefix: str = "") -> None:
    """One epoch (or C-search step) as metrics at step = entry["epoch"] or entry["step"]."""
    step = int(entry.get("epoch", entry.get("step", 0)))
    log_metrics({f"{prefix}{k}": v for k, v in entry.items() if k not in ("epoch", "step")}, step=step)


def set_run_tag(key: str, value: str) -> None:
    """Tag the active run (e.g. which registered model version it produced)."""
    mlflow.set_tag(key, value)


def log_figure(fig: Figure, artifact_file: str) -> None:
    """Save a matplotlib figure as a PNG artifact of the active run."""
    mlflow.log_figure(fig, artifact_file)


def search_runs(uri: str, experiment: str, max_results: int = 50) -> list[dict[str, Any]]:
    """Runs of `experiment`, newest first: run_id, name, status, start, params, metrics, tags."""
    client = use_store(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=max_results)
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "start_time": r.info.start_time, "params": dict(r.data.params), "metrics": dict(r.data.metrics),
             "tags": dict(r.data.tags)} for r in runs]


def log_to_existing_run(uri: str, run_id: str, metrics: dict[str, float], figures: dict[str, Figure],
                        tags: dict[str, str] | None = None) -> None:
    """Add metrics, PNG figures and tags to a finished run (e.g. `stance evaluate --log-to-run`)."""
    client = use_store(uri)
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)
    for key, value in metrics.items():
        if not math.isnan(float(value)):
            client.log_metric(run_id, key, float(value))
    for name, fig in figures.items():
        client.log_figure(run_id, fig, name)
