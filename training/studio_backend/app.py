"""The Label Studio ML backend as an ASGI app (FastAPI), speaking label-studio-ml-backend's protocol.

Label Studio (1.23, label_studio/ml/api_connector.py) calls:
- `GET /health` (1 s timeout) when it checks the connection: {"status": "UP", "model_version"};
- `POST /setup` {project, schema (the labeling config), hostname, access_token, extra_params}
  before predicting and when the backend is added: {"model_version"}. A labeling config whose
  `stance` choices are not the model's tags is refused here (422, both lists named), so the
  project shows the backend in error instead of predictions that never show;
- `POST /predict` {tasks: [{id, data: {text, ...}}, ...], project, label_config, params}:
  {"results": [one prediction per task, in order]}, scored in batches of `batch_size`;
- `POST /webhook` with the project webhook's events (ANNOTATION_CREATED, ANNOTATIONS_CREATED,
  ANNOTATION_UPDATED, ANNOTATIONS_DELETED) and "start training" (START_TRAINING): validated,
  handed to the learner (`EventSink.submit`, which must return at once) and acknowledged.

Every route but the health check needs HTTP basic auth (user `stance`, the shared secret that
`stance label connect` also gives Label Studio). A bad or missing credential is a 401, a body
that is not JSON a 400, JSON of the wrong shape or an unknown event a 422: nothing is scored
or queued then. Neither the secret nor Label Studio's access token is ever logged.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Protocol, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from labeling.io import atomic_open
from labeling.studio.config_xml import CONTROL_NAME, TARGET_NAME
from training.studio_backend.serving import ModelHolder

AUTH_USER = "stance"
SECRET_FILE = "ml-backend-secret"
SECRET_ENV = "STANCE_BACKEND_SECRET"
ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")
EVENTS = (*ANNOTATION_EVENTS, "START_TRAINING")
DEFAULT_BATCH = 256

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where acknowledged webhook events go (the learner); `submit` must not block. A sink with a
    `status() -> dict` method has it shown under "learner" in /health."""

    def submit(self, event: dict) -> None: ...


class LogSink:
    """An EventSink that only logs: the backend serves predictions and learns nothing."""

    def submit(self, event: dict) -> None:
        log.info("event %s for project %s (not learning: no learner)", event["action"], event["project"]["id"])


class BadRequest(Exception):
    """A request refused with `status` and a message for the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def resolve_secret(data_dir: Path, env: dict[str, str] | None = None) -> str:
    """The shared secret: STANCE_BACKEND_SECRET, else `data_dir/ml-backend-secret`, created
    (random, mode 0600) when absent. `stance label serve` and `connect` read the same one."""
    env = dict(os.environ) if env is None else env
    if env.get(SECRET_ENV, "").strip():
        return env[SECRET_ENV].strip()
    path = Path(data_dir) / SECRET_FILE
    if path.is_file():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(24)
    with atomic_open(path) as fh:
        os.chmod(fh.name, 0o600)  # a secret: owner-only whatever the umask
        fh.write(secret + "\n")
    return secret


def basic_auth_header(secret: str) -> str:
    """The Authorization header value Label Studio's webhook must send (see connect)."""
    return "Basic " + base64.b64encode(f"{AUTH_USER}:{secret}".encode()).decode("ascii")


def _authorized(request: Request, secret: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # both compared, always, in constant time: the answer says nothing about which one was wrong
    ok_user = secrets.compare_digest(user.encode(), AUTH_USER.encode())
    ok_pass = secrets.compare_digest(password.encode(), secret.encode())
    return ok_user and ok_pass


async def _json_object(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(422, f"expected a JSON object, got {type(body).__name__}")
    return body


def config_mismatch(label_config: str, tags: Sequence[str]) -> str | None:
    """Why a Label Studio labeling config cannot show this model's predictions, or None.

    The predictions name the control `stance` over `text` with the tags as choice values
    (labeling.studio.config_xml); a config without that control or with other choices would
    silently show nothing.
    """
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as exc:
        return f"the labeling config is not valid XML ({exc})"
    for control in root.iter("Choices"):
        if control.get("name") == CONTROL_NAME and control.get("toName") == TARGET_NAME:
            choices = [c.get("value") for c in control.iter("Choice")]
            if choices != list(tags):
                return f"the labeling config's {CONTROL_NAME!r} choices are {choices}, the model's tags are {list(tags)}"
            return None
    return (f"the labeling config has no Choices named {CONTROL_NAME!r} over {TARGET_NAME!r}; generate it with "
            "`stance label config` (the model's tags: " + ", ".join(tags) + ")")


def _task_texts(body: dict) -> list[str]:
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise BadRequest(422, "expected 'tasks': a list of Label Studio tasks")
    texts = []
    for i, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get(TARGET_NAME) if isinstance(data, dict) else None
        if not isinstance(text, str):
            name = task.get("id", i) if isinstance(task, dict) else i
            raise BadRequest(422, f"task {name}: no data.{TARGET_NAME} string to score")
        texts.append(text)
    return texts


def _event(body: dict) -> dict:
    action = body.get("action")
    if action not in EVENTS:
        raise BadRequest(422, f"unknown event {action!r}; this backend takes {', '.join(EVENTS)}")
    project = body.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("id"), int):
        raise BadRequest(422, f"{action}: expected 'project' with an integer 'id'")
    return body


def create_app(holder: ModelHolder, secret: str, learner: EventSink | None = None,
               batch_size: int = DEFAULT_BATCH) -> FastAPI:
    """The backend app serving `holder`'s model; events go to `learner` (default: LogSink).

    `secret` is the basic-auth password every route but /health requires (ValueError if empty).
    """
    if not secret:
        raise ValueError("the ML backend needs a shared secret (basic auth password)")
    sink = learner or LogSink()
    app = FastAPI(title="Stance Lab ML backend", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(BadRequest)
    async def _refused(request: Request, exc: BadRequest) -> JSONResponse:
        log.warning("%s %s refused (%d): %s", request.method, request.url.path, exc.status, exc)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if request.url.path not in ("/", "/health") and not _authorized(request, secret):
            log.warning("%s %s refused: missing or wrong credentials", request.method, request.url.path)
            return JSONResponse({"error": "authentication required (basic auth, see `stance label connect`)"},
                                status_code=401, headers={"WWW-Authenticate": 'Basic realm="stance"'})
        return await call_next(request)

    @app.get("/")
    @app.get("/health")
    async def health() -> dict:
        answer = {"status": "UP", "model_class": "StanceLab", "model_version": holder.get().model_version}
        status = getattr(sink, "status", None)  # the learner says what it is doing (pending, last decision)
        return {**answer, "learner": status()} if status else answer

    @app.post("/setup")
    async def setup(request: Request) -> dict:
        body = await _json_object(request)
        model = holder.get()
        schema = body.get("schema")
        if isinstance(schema, str) and (problem := config_mismatch(schema, model.tags)):
            raise BadRequest(422, problem)
        log.debug("setup from project %s: serving %s", body.get("project"), model.model_version)
        return {"model_version": model.model_version}

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        texts = _task_texts(await _json_object(request))
        model = holder.get()  # one model for the whole answer, even if a retrain swaps it meanwhile
        results: list[dict] = []
        for start in range(0, len(texts), batch_size):
            # scoring is CPU-bound: off the event loop, so health checks still answer meanwhile
            results += await run_in_threadpool(model.predictions, texts[start:start + batch_size])
        log.info("predicted %d tasks with %s", len(results), model.model_version)
        return {"results": results, "model_version": model.model_version}

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        event = _event(await _json_object(request))
        sink.submit(event)
        return JSONResponse({"status": "accepted", "action": event["action"]}, status_code=200)

    return app


def serve(app: Any, host: str, port: int) -> None:
    """Run `app` with uvicorn until interrupted (Ctrl-C stops it cleanly)."""
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    # the package's messages (predictions, events, refusals, retrains) beside uvicorn's, in its format
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"][__package__] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run(app, host=host, port=port, log_config=config, access_log=True)
