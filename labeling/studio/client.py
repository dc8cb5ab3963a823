"""The only module that talks to a Label Studio server (label-studio-sdk 2.x).

Every call goes through `_call`, which retries network errors and 5xx answers with
back-off, and turns failures into StudioError subclasses whose messages name the URL
and never contain the API key. Results are returned as plain dicts and lists.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable, Sequence

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from labeling.studio.settings import Connection, StudioConfig, clean_api_key, resolve_connection

PAGE_SIZE = 500


class StudioError(RuntimeError):
    """A Label Studio request failed; the message names the URL, never the key.

    `status` is the HTTP status when the server answered, None otherwise.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class StudioConnectionError(StudioError):
    """The server cannot be reached (down, wrong URL, timeout)."""


class StudioAuthError(StudioError):
    """The server rejected the API key."""


def _dump(obj: Any) -> Any:
    return obj.model_dump() if hasattr(obj, "model_dump") else obj


class StudioClient:
    """A thin, retrying wrapper over the SDK for the calls Stance Lab needs."""

    def __init__(self, conn: Connection, retries: int = 3, backoff_s: float = 1.0, timeout_s: float = 60.0):
        self.url = conn.url
        self.retries = retries
        self.backoff_s = backoff_s
        # A key the HTTP layer refuses would end in an error quoting the header, key included.
        api_key = clean_api_key(conn.api_key, "the connection settings")
        if not api_key:
            raise ValueError(f"no API key for Label Studio at {self.url}")
        self._hide = api_key
        try:
            # The SDK's own retries are off: _call retries, so that imports can re-check first.
            self._ls = LabelStudio(base_url=conn.url, api_key=api_key, timeout=timeout_s, max_retries=0)
        except ApiError as exc:
            raise StudioAuthError(self._scrub(f"Label Studio at {self.url} cannot use this API key: "
                                              f"{_detail(exc)}")) from None

    def _scrub(self, message: str) -> str:
        """`message` with the key blanked out: the last guard, whatever a library put in its text."""
        return message.replace(self._hide, "<api key>")

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, retry: bool = True, **kwargs: Any) -> Any:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except ApiError as exc:
                if exc.status_code in (401, 403):
                    raise StudioAuthError(
                        f"Label Studio at {self.url} rejected the API key while trying to {what} "
                        f"(HTTP {exc.status_code}); check LABEL_STUDIO_API_KEY", exc.status_code) from None
                if exc.status_code is not None and exc.status_code < 500 or attempt == attempts:
                    raise StudioError(self._scrub(f"Label Studio at {self.url}: could not {what}: "
                                                  f"HTTP {exc.status_code} {_detail(exc)}"), exc.status_code) from None
            except httpx.LocalProtocolError as exc:
                # Refused on this side before anything was sent: not a server that cannot be
                # reached, and the library's text quotes the offending header (it may be the key).
                raise StudioError(f"Label Studio at {self.url}: could not {what}: the request was refused "
                                  f"before it was sent ({type(exc).__name__}; a header holds a character "
                                  "HTTP does not allow)") from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                if attempt == attempts:
                    raise StudioConnectionError(self._scrub(
                        f"cannot reach Label Studio at {self.url} to {what}: {type(exc).__name__}: {exc}"
                        " (is the server running? check LABEL_STUDIO_URL or configs/studio.yaml)")) from None
            time.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def whoami(self) -> dict:
        """The authenticated user ({id, email, username, ...}); checks URL and key in one call."""
        return _dump(self._call("check the API key", self._ls.users.whoami))

    def users(self) -> dict[int, str]:
        """user id -> e-mail (or username) of every user the key can see."""
        users = self._call("list users", self._ls.users.list)
        return {u.id: (u.email or u.username) for u in users}

    def find_project(self, title: str, project_id: int | None = None) -> dict | None:
        """The project with `project_id`, else the first one titled `title`, else None."""
        if project_id is not None:
            return _dump(self._call(f"get project {project_id}", self._ls.projects.get, project_id))
        pager = self._call("list projects", self._ls.projects.list, title=title, page_size=100)
        for project in pager:
            if project.title == title:
                return _dump(project)
        return None

    def create_project(self, title: str, label_config: str, description: str = "") -> dict:
        """Create a project; the server validates `label_config` (invalid -> StudioError)."""
        created = self._call("create the project", self._ls.projects.create, title=title,
                             label_config=label_config, description=description, retry=False)
        return _dump(created)

    def update_label_config(self, project_id: int, label_config: str) -> None:
        """Replace the project's labeling config (validated by the server)."""
        self._call("update the labeling config", self._ls.projects.update, project_id, label_config=label_config)

    def validate_label_config(self, project_id: int, label_config: str) -> None:
        """Ask the server to validate `label_config` for a project; StudioError when invalid."""
        self._call("validate the labeling config", self._ls.projects.validate_label_config,
                   project_id, label_config=label_config)

    def tasks(self, project_id: int, full: bool = True) -> list[dict]:
        """Every task of the project with its data; with predictions and annotations when `full`
        (leaving them out makes the listing several times faster on big projects)."""
        pager = self._call("list tasks", self._ls.tasks.list, project=project_id,
                           fields="all" if full else "task_only", page_size=PAGE_SIZE)
        return [_dump(t) for t in self._call("list tasks", lambda: list(pager))]

    def import_tasks(self, project_id: int, tasks: Sequence[dict]) -> list[int]:
        """Import one batch in a single request, once (the caller re-checks before retrying)."""
        response = self._call(f"import {len(tasks)} tasks", self._ls.projects.import_tasks, project_id,
                              request=list(tasks), return_task_ids=True, retry=False)
        return list(getattr(response, "task_ids", None) or [])

    def add_prediction(self, task_id: int, prediction: dict) -> None:
        """Attach one prediction ({model_version, score, result}) to an existing task."""
        self._call(f"add a prediction to task {task_id}", self._ls.predictions.create, task=task_id,
                   result=prediction["result"], score=prediction["score"],
                   model_version=prediction["model_version"], retry=False)

    def export(self, project_id: int) -> list[dict]:
        """The project's full JSON export (all tasks, with annotations)."""
        def _download() -> bytes:
            stream = self._ls.projects.exports.download_sync(project_id, export_type="JSON",
                                                              download_all_tasks=True)
            return b"".join(stream)

        raw = self._call("export the project", _download)
        return json.loads(raw)

    def create_review_view(self, project_id: int, title: str, task_ids: Iterable[int]) -> int:
        """A Data Manager tab listing `task_ids` (the review batch); returns the view id."""
        items = [{"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": int(t)}
                 for t in task_ids]
        data = {"title": title, "filters": {"conjunction": "or", "items": items}}
        view = self._call("create the review tab", self._ls.views.create, project=project_id, data=data,
                          retry=False)
        return int(view.id)

    def views(self, project_id: int) -> list[dict]:
        """The project's Data Manager tabs ({id, data: {title, ordering, hiddenColumns, ...}, ...})."""
        return [_dump(v) for v in self._call("list the project's tabs", self._ls.views.list, project=project_id)]

    def create_view(self, project_id: int, data: dict) -> int:
        """A Data Manager tab with `data` (title, ordering, hiddenColumns, filters); returns its id."""
        view = self._call("create a tab", self._ls.views.create, project=project_id, data=data, retry=False)
        return int(view.id)

    def update_view(self, view_id: int, project_id: int, data: dict) -> None:
        """Replace the `data` (title, ordering, hiddenColumns, filters) of an existing tab."""
        self._call(f"update tab {view_id}", self._ls.views.update, str(view_id), project=project_id, data=data)

    def import_predictions(self, project_id: int, predictions: Sequence[dict]) -> int:
        """Attach predictions ({task, model_version, score, result}) to existing tasks in one
        request, once (a retry could add them twice); returns how many the server created."""
        response = self._call(f"import {len(predictions)} predictions", self._ls.projects.import_predictions,
                              project_id, request=list(predictions), retry=False)
        return int(getattr(response, "created", None) or 0)


    def ml_backends(self, project_id: int) -> list[dict]:
        """The ML backends connected to the project (url, title, state, model_version, ...)."""
        return [_dump(b) for b in self._call("list ML backends", self._ls.ml.list, project=project_id)]

    def add_ml_backend(self, project_id: int, url: str, **fields: Any) -> dict:
        """Connect an ML backend; Label Studio checks its /health and /setup first, and refuses
        (StudioError with the server's reason) when either fails. `fields`: the SDK's
        ml.create options (title, is_interactive, auth_method, basic_auth_user/pass, timeout)."""
        created = self._call(f"connect the ML backend at {url}", self._ls.ml.create, project=project_id, url=url,
                             retry=False, **fields)
        return _dump(created)

    def update_ml_backend(self, backend_id: int, **fields: Any) -> dict:
        """Change a connected ML backend (same fields as add_ml_backend, plus url); checked like it."""
        return _dump(self._call(f"update ML backend {backend_id}", self._ls.ml.update, backend_id, **fields))

    def webhooks(self, project_id: int) -> list[dict]:
        """The project's webhooks (url, headers, actions, send_for_all_actions, ...)."""
        return [_dump(w) for w in self._call("list webhooks", self._ls.webhooks.list, project=str(project_id))]

    def add_webhook(self, project_id: int, url: str, **fields: Any) -> dict:
        """Create a project webhook (fields: headers, actions, send_payload, send_for_all_actions)."""
        return _dump(self._call("create a webhook", self._ls.webhooks.create, project=project_id, url=url,
                                retry=False, **fields))

    def update_webhook(self, webhook_id: int, **fields: Any) -> dict:
        """Change a webhook (url, headers, actions, send_payload, send_for_all_actions, is_active)."""
        return _dump(self._call(f"update webhook {webhook_id}", self._ls.webhooks.update, webhook_id, **fields))

    def delete_webhook(self, webhook_id: int) -> None:
        """Remove a webhook."""
        self._call(f"delete webhook {webhook_id}", self._ls.webhooks.delete, webhook_id)

    def retrieve_predictions(self, project_id: int, task_ids: Sequence[int]) -> None:
        """The Data Manager's "Retrieve predictions" on these tasks: Label Studio asks the project's
        ML backend (one /predict request) for those without a prediction of its current version."""
        self._call(f"retrieve predictions for {len(task_ids)} tasks", self._ls.actions.create,
                   id="retrieve_tasks_predictions", project=project_id,
                   selected_items={"all": False, "included": [int(t) for t in task_ids]}, retry=False)

    def update_project(self, project_id: int, **settings: Any) -> dict:
        """Change project settings by their API names in one request (sampling, model_version,
        maximum_annotations, overlap_cohort_percentage, show_overlap_first, expert_instruction,
        show_collab_predictions, evaluate_predictions_automatically, ...); returns the project."""
        return _dump(self._call("update the project settings", self._ls.projects.update, project_id, **settings))


def _detail(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("validation_errors") or body.get("detail") or body
    return str(body)[:300]


def connect(cfg: StudioConfig) -> StudioClient:
    """A client for the server `cfg` names, checked with one request (`whoami`).

    Every `stance label` command connects through here, so a wrong URL or key fails fast,
    before anything is read or written. Raises StudioError (or ValueError without a key).
    """
    client = StudioClient(resolve_connection(cfg), cfg.retries, cfg.retry_backoff_s, cfg.timeout_s)
    client.whoami()
    return client
