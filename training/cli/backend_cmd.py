"""`stance label serve|connect`: the live ML backend for Label Studio and its connection.

`serve` loads one model (any URI `stance predict` takes; the champion by default) and answers
Label Studio's ML-backend protocol on loopback (training.studio_backend.app), learning from
annotation events in the background (training.studio_backend.learner); `connect` registers it
with the project (training.studio_backend.connection). Both read the same shared secret
(STANCE_BACKEND_SECRET, else <server_data_dir>/ml-backend-secret, created owner-only).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from labeling.schema import load_schema
from labeling.studio.server import port_in_use
from labeling.studio.settings import load_studio_config, resolve_path
from training.cli.common import (EXIT_FAILED, USER_ERRORS, SchemaOpt, StudioConfigOpt, TrackingOpt, fail,
                                 print_error, store_uri)

DEFAULT_URL = "http://127.0.0.1:9090"  # training.studio_backend.connection's (not imported: FastAPI loads slowly)
CONNECT_WAIT_S = 900.0  # serve --connect under `make studio`: Label Studio's first start migrates for minutes


def register(label_app: typer.Typer) -> None:
    """Add `serve` and `connect` to the `label` group (the one label_cmd.register returns)."""
    label_app.command("serve")(serve_cmd)
    label_app.command("connect")(connect_cmd)


def serve_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="Model URI: models:/NAME@champion, models:/NAME/3, "
                                        "runs:/ID or a model folder; default the champion (models/champion, else "
                                        "the newest @champion in the registry). Loaded once; its tags must be the "
                                        "labeling config's."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback: only this machine)."),
    port: int = typer.Option(9090, "--port", min=1, max=65535, help="Port to listen on."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Tasks scored per batch in one /predict call."),
    learn: bool = typer.Option(True, "--learn/--no-learn", help="Retrain in the background from annotation events "
                               "and switch to a model that is not worse (configs/backend.yaml); --no-learn only "
                               "predicts."),
    backend_config: Optional[Path] = typer.Option(None, "--backend-config", help="Retraining and queue settings "
                                                  "(YAML; default configs/backend.yaml)."),
    connect_too: bool = typer.Option(False, "--connect", help="Also connect it to the project once Label Studio "
                                     "and the project answer (what `make studio` does)."),
    tracking_uri: Optional[str] = TrackingOpt,
    config: Optional[Path] = StudioConfigOpt,
    schema: Optional[Path] = SchemaOpt,
) -> None:
    """Serve a model to Label Studio as its ML backend (predictions, annotation events) until Ctrl-C.

    Then run `stance label connect` once (or pass --connect): Label Studio asks it for predictions
    when tasks are listed or opened and on "Retrieve predictions", and sends it annotation events.
    """
    from training.studio_backend.app import create_app, resolve_secret, serve
    from training.studio_backend.config import load_backend_config
    from training.studio_backend.learner import Learner
    from training.studio_backend.serving import ModelHolder, champion_uri, load_serving

    console = Console()
    try:
        cfg = load_studio_config(config)
        label_schema = load_schema(schema)
        tags = label_schema.names
        if port_in_use(host, port):
            raise ValueError(f"port {port} on {host} is already in use (is a backend already running? "
                             "pick another with --port)")
        secret = resolve_secret(resolve_path(cfg.server_data_dir))
        learn_cfg = load_backend_config(backend_config, tracking_uri=tracking_uri) if learn else None
        store = store_uri(tracking_uri, check=False)
        model = model or champion_uri(store)
        if model is None:
            raise ValueError("no model to serve, so no ML backend (Label Studio works without one): name a model "
                             "with --model, or make a champion (`make demo`, or `stance models promote` then "
                             "`stance models export ... --out models/champion`)")
        with console.status(Text(f"loading {model}")):
            served = load_serving(model, tags, store)
        holder = ModelHolder(served)
        learner = Learner(learn_cfg, cfg, holder, tags, label_schema) if learn_cfg else None
        app = create_app(holder, secret, learner, batch_size=batch_size)
    except USER_ERRORS as exc:
        raise fail(console, exc)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"warning: listening on {host}: other machines can reach the backend (it still needs "
                      "the shared secret)", style="yellow", markup=False)
    url = f"http://{host}:{port}"
    console.print(Text.assemble("serving ", (served.model_version, "bold"), f" at {url}; connect it with ",
                                (f"stance label connect --url {url}", "bold"), " (Ctrl-C stops)"))
    if learner is not None:
        console.print(f"retraining after {learn_cfg.min_new_annotations} annotation changes or on Start Training; "
                      "annotations snapshot into the studio config's annotations_dir", markup=False)
    if connect_too:
        threading.Thread(target=_connect_later, args=(console, cfg, label_schema, url, secret), daemon=True,
                         name="stance-connect").start()
    try:
        serve(app, host, port)
    finally:
        if learner is not None:
            learner.close()  # a retrain in progress is finished first: its MLflow run never stays RUNNING


def connect_cmd(
    url: str = typer.Option(DEFAULT_URL, "--url", help="Where `stance label serve` listens."),
    timeout_s: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait for the backend to answer."),
    config: Optional[Path] = StudioConfigOpt,
    schema: Optional[Path] = SchemaOpt,
) -> None:
    """Connect the running ML backend to the project (idempotent: connecting again updates it).

    Open tasks get the served model's predictions (in batches); tasks imported later get them when
    listed or opened; "Retrieve predictions" works on any selection; the project shows that model's
    ticks and serves its least sure task first. A webhook sends annotation events to the backend for
    retraining. Exits 1 without changing the project when the backend is down, slow, or refuses the
    project's labeling config.
    """
    from training.studio_backend.app import resolve_secret
    from training.studio_backend.connection import connect_backend

    console = Console()
    try:
        cfg = load_studio_config(config)
        label_schema = load_schema(schema)  # a broken schema is reported before any server is asked
        secret = resolve_secret(resolve_path(cfg.server_data_dir))
        with console.status(Text(f"connecting the ML backend at {url}")):
            result = connect_backend(cfg, label_schema, url, secret, timeout_s)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)
    console.print(_connected_table(result))


def _connected_table(result) -> Table:
    from training.studio_backend.connection import BACKEND_TITLE

    project, backend = result.project, result.backend
    table = Table(title="ML backend connected", show_header=False)
    for key, value in [("project", f"{project['title']} (id {project['id']})"),
                       ("backend", f"{result.url} (id {backend['id']}, {'added' if result.created else 'updated'}, "
                                   f"{backend.get('readable_state') or backend.get('state')})"),
                       ("serving", result.version), ("predictions", f"asked for {result.sent} open tasks"),
                       ("project shows", result.shown if result.shown == result.version
                        else f"{BACKEND_TITLE} (live predictions: no task has one yet)"),
                       ("webhook", f"id {result.webhook}: annotation events -> {result.url}/webhook"),
                       ("open", f"{result.studio}/projects/{project['id']}")]:
        table.add_row(key, Text(str(value)))
    return table


def _connect_later(console: Console, cfg, label_schema, url: str, secret: str) -> None:
    """serve --connect: connect once Label Studio, the project and this backend answer."""
    from training.studio_backend.connection import connect_when_ready

    def done(result, error) -> None:
        if error is not None:
            print_error(console, f"not connected to Label Studio: {error}; run `stance label connect --url {url}`")
        else:
            console.print(_connected_table(result))

    connect_when_ready(cfg, label_schema, url, secret, CONNECT_WAIT_S, done)
