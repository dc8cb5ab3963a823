"""Connecting a running ML backend to the Label Studio project (`stance label connect`).

Through the one Label Studio client (labeling.studio.client), idempotently:
1. the backend is checked first (it answers, takes the shared secret, fits the project's
   labeling config): when it does not, nothing in Label Studio is changed;
2. one ML backend entry (basic auth, interactive pre-annotations) and one webhook sending
   annotation events with the basic-auth header (Label Studio's own webhook for a new
   backend carries no credentials, and every other action would be a refused event);
3. the open tasks without a prediction of the served version get one through Label Studio's
   "Retrieve predictions" (RETRIEVE_BATCH tasks per /predict request);
4. the project shows predictions, asks for them when a task without one is listed or opened,
   and its model version is the served one with uncertainty sampling, as `push --model` and a
   retrain switch set it (a project without predictions yet keeps the backend's title).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from labeling.schema import LabelSchema
from labeling.studio.client import StudioClient, StudioConnectionError, StudioError, connect
from labeling.studio.config_xml import build_label_config
from labeling.studio.push import UNCERTAINTY_SAMPLING
from labeling.studio.settings import StudioConfig
from training.studio_backend.app import ANNOTATION_EVENTS, AUTH_USER, basic_auth_header

BACKEND_TITLE = "stance-ml-backend"  # the project's "model version" while no prediction names a version
DEFAULT_URL = "http://127.0.0.1:9090"
RETRIEVE_BATCH = 100  # tasks per "Retrieve predictions": Label Studio waits at most 100 s for one /predict


class NoProject(StudioError):
    """The configured project does not exist (yet)."""


@dataclass
class Connected:
    """What connect_backend did."""

    studio: str  # Label Studio's URL
    project: dict
    url: str
    backend: dict
    created: bool
    version: str  # what the backend serves
    shown: str  # the project's model version now (version, or BACKEND_TITLE)
    sent: int  # open tasks sent to "Retrieve predictions"
    webhook: int


def _json(answer: httpx.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def check_backend(url: str, secret: str, label_config: str, timeout_s: float) -> str:
    """The model version the backend at `url` serves, after checking that it answers, takes the
    secret and fits `label_config`. Raises StudioConnectionError when it does not answer (down, or
    silent for `timeout_s`), StudioError when it refuses."""
    start = f"start it with `stance label serve --model URI` (default {DEFAULT_URL})"
    try:
        health = httpx.get(f"{url}/health", timeout=timeout_s)
        setup = httpx.post(f"{url}/setup", timeout=timeout_s, json={"schema": label_config},
                           headers={"Authorization": basic_auth_header(secret)})
    except httpx.TimeoutException:
        raise StudioConnectionError(f"the ML backend at {url} did not answer within {timeout_s:g} s; is it busy or "
                                    "stuck? Label Studio is left as it was") from None
    except httpx.TransportError as exc:
        raise StudioConnectionError(f"no ML backend answers at {url} ({type(exc).__name__}); {start}") from None
    if health.status_code != 200 or _json(health).get("status") != "UP":
        raise StudioError(f"{url} answered /health with HTTP {health.status_code}: not a Stance Lab ML backend; {start}")
    if setup.status_code == 401:
        raise StudioError(f"the ML backend at {url} refused the shared secret: it was started with another one "
                          "(STANCE_BACKEND_SECRET or ml-backend-secret in server_data_dir); restart it here")
    if setup.status_code != 200 or "model_version" not in _json(setup):
        raise StudioError(f"the ML backend at {url} refused this project (HTTP {setup.status_code}): "
                          f"{_json(setup).get('error') or setup.text[:300]}")
    return _json(setup)["model_version"]


def ensure_backend(client: StudioClient, project_id: int, url: str, secret: str) -> tuple[dict, bool]:
    """Create the project's Stance backend, or update the one already there (same URL or our
    title): connecting twice leaves one. Returns (backend, created)."""
    fields = dict(title=BACKEND_TITLE, is_interactive=True, auth_method="BASIC_AUTH", basic_auth_user=AUTH_USER,
                  basic_auth_pass=secret, auto_update=True)
    ours = [b for b in client.ml_backends(project_id)
            if str(b.get("url", "")).rstrip("/") == url or b.get("title") == BACKEND_TITLE]
    if ours:
        # the project too: Label Studio checks the backend's /setup against it on every change
        return client.update_ml_backend(ours[0]["id"], project=project_id, url=url, **fields), False
    return client.add_ml_backend(project_id, url, **fields), True


def ensure_webhook(client: StudioClient, project_id: int, url: str, secret: str, old_urls: set[str]) -> int:
    """One project webhook to `url`/webhook sending annotation events with the basic-auth header;
    webhooks to an older URL of this backend are removed. Returns the webhook id."""
    target = f"{url}/webhook"
    fields = dict(url=target, headers={"Authorization": basic_auth_header(secret)}, actions=list(ANNOTATION_EVENTS),
                  send_for_all_actions=False, send_payload=True, is_active=True)
    ours = [w for w in client.webhooks(project_id) if str(w.get("url", "")).rstrip("/") in {target, *old_urls}]
    if not ours:
        return int(client.add_webhook(project_id, **fields)["id"])
    for extra in ours[1:]:
        client.delete_webhook(extra["id"])
    return int(client.update_webhook(ours[0]["id"], **fields)["id"])


def predict_open_tasks(client: StudioClient, project_id: int, version: str) -> int:
    """Have Label Studio "Retrieve predictions" for every open task without one of `version`,
    RETRIEVE_BATCH tasks per request. Returns how many tasks were sent."""
    todo = [int(t["id"]) for t in client.tasks(project_id) if not t.get("is_labeled")
            and not any((p or {}).get("model_version") == version for p in t.get("predictions") or [])]
    for start in range(0, len(todo), RETRIEVE_BATCH):
        client.retrieve_predictions(project_id, todo[start:start + RETRIEVE_BATCH])
    return len(todo)


def show_version(client: StudioClient, project_id: int, version: str) -> str:
    """Pre-annotations on, predictions asked for when a task without one is listed or opened, and
    the project's model version = `version` with uncertainty sampling. Label Studio accepts a
    version only once a prediction carries it: without one, the backend's title stands in
    (predictions are then fetched live). Returns the model version set."""
    live = dict(show_collab_predictions=True, evaluate_predictions_automatically=True)
    try:
        client.update_project(project_id, model_version=version, sampling=UNCERTAINTY_SAMPLING, **live)
        return version
    except StudioError as exc:
        if exc.status != 400:
            raise
    client.update_project(project_id, model_version=BACKEND_TITLE, **live)
    return BACKEND_TITLE


def connect_backend(cfg: StudioConfig, schema: LabelSchema, url: str, secret: str, timeout_s: float) -> Connected:
    """Connect the backend at `url` to cfg's project (module docstring). Raises NoProject when the
    project does not exist, StudioConnectionError when Label Studio or the backend cannot be reached,
    StudioError when either refuses; the project is unchanged when the backend check fails."""
    url = url.rstrip("/")
    client = connect(cfg)
    project = client.find_project(cfg.project_title, cfg.project_id)
    if project is None:
        raise NoProject(f"Label Studio at {client.url}: no project titled {cfg.project_title!r}; "
                        "run `stance label push` (or `make studio`) first")
    version = check_backend(url, secret, project["label_config"], timeout_s)
    old = {f"{str(b.get('url', '')).rstrip('/')}/webhook" for b in client.ml_backends(project["id"])
           if b.get("title") == BACKEND_TITLE}
    backend, created = ensure_backend(client, project["id"], url, secret)
    hook = ensure_webhook(client, project["id"], url, secret, old)
    sent = predict_open_tasks(client, project["id"], version)
    shown = show_version(client, project["id"], version)
    if shown == version:  # the labeling view names the model whose ticks it shows
        xml = build_label_config(schema, version)
        if xml != project["label_config"]:
            client.update_label_config(project["id"], xml)
    return Connected(client.url, project, url, backend, created, version, shown, sent, hook)


def connect_when_ready(cfg: StudioConfig, schema: LabelSchema, url: str, secret: str, wait_s: float,
                       done: Callable[[Connected | None, Exception | None], Any], every_s: float = 3.0) -> None:
    """connect_backend, retried while Label Studio, its project or the backend are not up yet
    (`make studio` starts all three at once), for up to `wait_s` seconds; then `done(result,
    None)`, or `done(None, error)` on a refusal or when time ran out."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            result = connect_backend(cfg, schema, url, secret, timeout_s=10.0)
        except (StudioConnectionError, NoProject) as exc:
            if time.monotonic() > deadline:
                done(None, exc)
                return
            time.sleep(every_s)
        except (StudioError, ValueError) as exc:
            done(None, exc)
            return
        else:
            done(result, None)
            return
