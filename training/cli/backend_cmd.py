"""`stance label serve|connect`: the live ML backend for Label Studio and its connection.

`serve` loads one model (any URI `stance predict` takes) and answers Label Studio's ML-backend
protocol on loopback (training.studio_backend.app); `connect` registers it with the project
through the one Label Studio client, with the webhook that carries annotation events and the
settings that make Label Studio ask it for predictions. Both read the same shared secret
(STANCE_BACKEND_SECRET, else <server_data_dir>/ml-backend-secret, created owner-only).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from labeling.schema import load_schema
from labeling.studio.client import StudioClient, StudioError, connect
from labeling.studio.config_xml import build_label_config
from labeling.studio.push import UNCERTAINTY_SAMPLING
from labeling.studio.server import port_in_use
from labeling.studio.settings import load_studio_config, resolve_path
from training.cli.common import (EXIT_FAILED, USER_ERRORS, SchemaOpt, StudioConfigOpt, TrackingOpt, fail,
                                 store_uri)

BACKEND_TITLE = "stance-ml-backend"  # the project's "model version" while no prediction names a version
DEFAULT_URL = "http://127.0.0.1:9090"
RETRIEVE_BATCH = 100  # tasks per "Retrieve predictions": Label Studio waits at most 100 s for one /predict


def register(label_app: typer.Typer) -> None:
    """Add `serve` and `connect` to the `label` group (the one label_cmd.register returns)."""
    label_app.command("serve")(serve_cmd)
    label_app.command("connect")(connect_cmd)


def serve_cmd(
    model: str = typer.Option(..., "--model", help="Model URI: models:/stance@champion, models:/stance/3, runs:/ID, "
                              "or a model folder. Loaded once; its tags must be the labeling config's."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback: only this machine)."),
    port: int = typer.Option(9090, "--port", min=1, max=65535, help="Port to listen on."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Tasks scored per batch in one /predict call."),
    learn: bool = typer.Option(True, "--learn/--no-learn", help="Retrain in the background from annotation events "
                               "and switch to a model that is not worse (configs/backend.yaml); --no-learn only "
                               "predicts."),
    backend_config: Optional[Path] = typer.Option(None, "--backend-config", help="Retraining and queue settings "
                                                  "(YAML; default configs/backend.yaml)."),
    tracking_uri: Optional[str] = TrackingOpt,
    config: Optional[Path] = StudioConfigOpt,
    schema: Optional[Path] = SchemaOpt,
) -> None:
    """Serve a model to Label Studio as its ML backend (predictions, annotation events) until Ctrl-C.

    Then run `stance label connect` once: Label Studio asks it for predictions when a task opens
    and on "Retrieve predictions", and sends it annotation events.
    """
    from training.studio_backend.app import create_app, resolve_secret, serve
    from training.studio_backend.config import load_backend_config
    from training.studio_backend.learner import Learner
    from training.studio_backend.serving import ModelHolder, load_serving

    console = Console()
    try:
        cfg = load_studio_config(config)
        tags = load_schema(schema).names
        if port_in_use(host, port):
            raise ValueError(f"port {port} on {host} is already in use (is a backend already running? "
                             "pick another with --port)")
        secret = resolve_secret(resolve_path(cfg.server_data_dir))
        learn_cfg = load_backend_config(backend_config, tracking_uri=tracking_uri) if learn else None
        with console.status(Text(f"loading {model}")):
            served = load_serving(model, tags, store_uri(tracking_uri, check=False))
        holder = ModelHolder(served)
        learner = Learner(learn_cfg, cfg, holder, tags) if learn_cfg else None
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
    try:
        serve(app, host, port)
    finally:
        if learner is not None:
            learner.close()  # a retrain in progress is finished first: its MLflow run never stays RUNNING


def _check_backend(url: str, secret: str, label_config: str, timeout_s: float) -> str:
    """The model version the backend at `url` serves, after checking it answers, accepts the
    secret and fits the project's labeling config. Raises StudioError saying which failed."""
    from training.studio_backend.app import basic_auth_header

    start = f"start it with `stance label serve --model URI` (default {DEFAULT_URL})"
    try:
        health = httpx.get(f"{url}/health", timeout=timeout_s)
        setup = httpx.post(f"{url}/setup", timeout=timeout_s, json={"schema": label_config},
                           headers={"Authorization": basic_auth_header(secret)})
    except httpx.TimeoutException:
        raise StudioError(f"the ML backend at {url} did not answer within {timeout_s:g} s; is it busy or stuck? "
                          "Label Studio is left as it was") from None
    except httpx.TransportError as exc:
        raise StudioError(f"no ML backend answers at {url} ({type(exc).__name__}); {start}") from None
    if health.status_code != 200 or _json(health).get("status") != "UP":
        raise StudioError(f"{url} answered /health with HTTP {health.status_code}: not a Stance Lab ML backend; {start}")
    if setup.status_code == 401:
        raise StudioError(f"the ML backend at {url} refused the shared secret: it was started with another one "
                          "(STANCE_BACKEND_SECRET or ml-backend-secret in server_data_dir); restart it here")
    if setup.status_code != 200 or "model_version" not in _json(setup):
        raise StudioError(f"the ML backend at {url} refused this project (HTTP {setup.status_code}): "
                          f"{_json(setup).get('error') or setup.text[:300]}")
    return _json(setup)["model_version"]


def _json(answer: httpx.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _ensure_backend(client: StudioClient, project_id: int, url: str, secret: str) -> tuple[dict, bool]:
    """Create the project's Stance backend, or update the one already there (same URL or our
    title): connecting twice leaves one. Returns (backend, created)."""
    from training.studio_backend.app import AUTH_USER

    fields = dict(title=BACKEND_TITLE, is_interactive=True, auth_method="BASIC_AUTH", basic_auth_user=AUTH_USER,
                  basic_auth_pass=secret, auto_update=True)
    ours = [b for b in client.ml_backends(project_id)
            if str(b.get("url", "")).rstrip("/") == url or b.get("title") == BACKEND_TITLE]
    if ours:
        # the project too: Label Studio checks the backend's /setup against it on every change
        return client.update_ml_backend(ours[0]["id"], project=project_id, url=url, **fields), False
    return client.add_ml_backend(project_id, url, **fields), True


def _ensure_webhook(client: StudioClient, project_id: int, url: str, secret: str, old_urls: set[str]) -> int:
    """One project webhook to `url`/webhook sending annotation events with the basic-auth header.

    Label Studio creates a webhook without credentials when a backend is added; it is updated
    here, and webhooks to an older URL of this backend are removed. Returns the webhook id.
    """
    from training.studio_backend.app import ANNOTATION_EVENTS, basic_auth_header

    target = f"{url}/webhook"
    fields = dict(url=target, headers={"Authorization": basic_auth_header(secret)}, actions=list(ANNOTATION_EVENTS),
                  send_for_all_actions=False, send_payload=True, is_active=True)
    ours = [w for w in client.webhooks(project_id) if str(w.get("url", "")).rstrip("/") in {target, *old_urls}]
    if not ours:
        return int(client.add_webhook(project_id, **fields)["id"])
    for extra in ours[1:]:
        client.delete_webhook(extra["id"])
    return int(client.update_webhook(ours[0]["id"], **fields)["id"])


def _predict_open_tasks(client: StudioClient, project_id: int, version: str) -> int:
    """Have Label Studio "Retrieve predictions" for every open task without one of `version`,
    RETRIEVE_BATCH tasks per request. Returns how many tasks were sent."""
    todo = [int(t["id"]) for t in client.tasks(project_id) if not t.get("is_labeled")
            and not any((p or {}).get("model_version") == version for p in t.get("predictions") or [])]
    for start in range(0, len(todo), RETRIEVE_BATCH):
        client.retrieve_predictions(project_id, todo[start:start + RETRIEVE_BATCH])
    return len(todo)


def _show_version(client: StudioClient, project_id: int, version: str) -> str:
    """Make the project show the backend's predictions: pre-annotations on, tasks without a
    prediction get one when the Data Manager lists them or a task opens, and the project's model
    version = the served one, so uncertainty sampling serves its least sure task first (as push
    --model and a retrain switch set it). Label Studio accepts a version only once a prediction
    carries it: for a project without tasks the backend's title stands in (predictions are then
    fetched live). Returns the model version set."""
    live = dict(show_collab_predictions=True, evaluate_predictions_automatically=True)
    try:
        client.update_project(project_id, model_version=version, sampling=UNCERTAINTY_SAMPLING, **live)
        return version
    except StudioError as exc:
        if exc.status != 400:
            raise
    client.update_project(project_id, model_version=BACKEND_TITLE, **live)
    return BACKEND_TITLE


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

    console = Console()
    url = url.rstrip("/")
    try:
        cfg = load_studio_config(config)
        label_schema = load_schema(schema)  # a broken schema is reported before any server is asked
        secret = resolve_secret(resolve_path(cfg.server_data_dir))
        client = connect(cfg)
        project = client.find_project(cfg.project_title, cfg.project_id)
        if project is None:
            raise StudioError(f"Label Studio at {client.url}: no project titled {cfg.project_title!r}; "
                              "run `stance label push` first")
        with console.status(Text(f"checking the ML backend at {url}")):
            version = _check_backend(url, secret, project["label_config"], timeout_s)
        old = {f"{str(b.get('url', '')).rstrip('/')}/webhook" for b in client.ml_backends(project["id"])
               if b.get("title") == BACKEND_TITLE}
        backend, created = _ensure_backend(client, project["id"], url, secret)
        hook = _ensure_webhook(client, project["id"], url, secret, old)
        with console.status(Text(f"predicting the open tasks with {version}")):
            sent = _predict_open_tasks(client, project["id"], version)
        shown = _show_version(client, project["id"], version)
        if shown == version:  # the labeling view names the model whose ticks it shows
            xml = build_label_config(label_schema, version)
            if xml != project["label_config"]:
                client.update_label_config(project["id"], xml)
    except USER_ERRORS as exc:
        raise fail(console, exc, EXIT_FAILED)
    table = Table(title=f"ML backend connected to {client.url}", show_header=False)
    for key, value in [("project", f"{project['title']} (id {project['id']})"),
                       ("backend", f"{url} (id {backend['id']}, {'added' if created else 'updated'}, "
                                   f"{backend.get('readable_state') or backend.get('state')})"),
                       ("serving", version), ("predictions", f"asked for {sent} open tasks"),
                       ("project shows", shown if shown == version else f"{BACKEND_TITLE} (live: no task yet)"),
                       ("webhook", f"id {hook}: annotation events -> {url}/webhook"),
                       ("open", f"{client.url}/projects/{project['id']}")]:
        table.add_row(key, Text(str(value)))
    console.print(table)
