"""The annotators' queue after a model switch: every open task scored by the new version,
Label Studio set to serve the least sure first, and a "Next batch" tab chosen by the strategy.

What Label Studio 1.23 Community offers, and what this module sets:

- Predictions carry `model_version` and `score`; the project's `model_version` setting picks
  which version the labeling view shows and the Data Manager's "Prediction score" column
  averages (tasks:predictions_score, which push's "Most uncertain first" tab sorts on). The
  open tasks get the new version's predictions in batches (one import request per batch) and
  the project's model_version becomes the new one.
- The project's `sampling` "Uncertainty sampling" makes "Label All Tasks" serve the task with
  the lowest score of the project's model_version first (projects/functions/next_task.py);
  the score is labeling.studio.tasks' prediction_score: how sure the model is of its least
  sure tag, so lowest = most uncertain.
- A Data Manager tab (`QUEUE_TAB`) lists the next `queue_batch` tasks picked by
  labeling.studio.tasks.select_groups with the configured strategy (e.g. uncertainty with
  diversity: no near-duplicate group twice, few sentences of one article), ordered by score
  with the score column shown: "Label All Tasks" in that tab serves that batch (the label
  stream takes the tab's filters: /api/projects/ID/next?view=TAB).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from labeling.studio.client import StudioClient
from labeling.studio.push import UNCERTAINTY_SAMPLING, queue_view
from labeling.studio.tasks import Group, select_groups

QUEUE_TAB = "Next batch"


@dataclass
class QueueReport:
    """What one re-ranking did."""

    model_version: str
    open_tasks: int = 0
    scored: int = 0
    requests: int = 0
    next_batch: list[int] = field(default_factory=list)
    view_id: int | None = None


def open_tasks(tasks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tasks still in the queue (not labeled: fewer annotations than the project asks for)
    whose data has a sentence to score; tasks from other tools without text are left alone."""
    return [t for t in tasks if not t.get("is_labeled") and isinstance((t.get("data") or {}).get("text"), str)]


def version_score(task: Mapping[str, Any], model_version: str) -> float | None:
    """The score of the task's prediction by `model_version`, None when it has none."""
    for pred in task.get("predictions") or []:
        if isinstance(pred, Mapping) and pred.get("model_version") == model_version and pred.get("score") is not None:
            return float(pred["score"])
    return None


def rescore(client: StudioClient, project_id: int, tasks: Sequence[Mapping[str, Any]], model: Any,
            batch_size: int) -> tuple[dict[int, float], int, int]:
    """Give every task in `tasks` a prediction of `model` (a serving.ServingModel), `batch_size`
    per request; tasks that already have one of this version (a retry, or Label Studio asked
    /predict since the switch) keep it. Returns (task id -> score, predictions added, requests).
    Raises StudioError when a request fails (the tasks scored before it keep their predictions).
    """
    scores: dict[int, float] = {}
    todo = []
    for task in tasks:
        score = version_score(task, model.model_version)
        if score is None:
            todo.append(task)
        else:
            scores[int(task["id"])] = score
    added = requests = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        preds = model.predictions([t["data"]["text"] for t in batch])
        client.import_predictions(project_id, [{"task": int(t["id"]), **p} for t, p in zip(batch, preds)])
        requests += 1
        added += len(batch)
        scores.update({int(t["id"]): float(p["score"]) for t, p in zip(batch, preds)})
    return scores, added, requests


def next_batch(tasks: Sequence[Mapping[str, Any]], scores: Mapping[int, float], n: int, strategy: str,
               seed: int = 0) -> list[int]:
    """Ids of the `n` tasks `strategy` picks (labeling.studio.tasks.select_groups), least sure first.

    Scores are prediction scores, which order like select_groups' confidences (lower = less sure).
    Tasks without a sentence_id or group_id (not pushed by `stance label push`) count as their
    own group. Raises ValueError on an unknown strategy.
    """
    groups, by_sentence = [], {}
    for task in tasks:
        data = task["data"]
        sid = str(data.get("sentence_id") or f"task-{task['id']}")
        rep = {**data, "sentence_id": sid, "group_id": data.get("group_id") or sid,
               "article_id": data.get("article_id") or sid}
        groups.append(Group(representative=rep))
        by_sentence[sid] = int(task["id"])
    confidence = {g.sentence_id: scores[by_sentence[g.sentence_id]] for g in groups}
    picked = select_groups(groups, n, strategy, confidence, seed) if groups else []
    ids = [by_sentence[g.sentence_id] for g in picked]
    return sorted(ids, key=lambda i: (scores[i], i))


def queue_view_data(task_ids: Sequence[int]) -> dict[str, Any]:
    """The tab's data: the batch's tasks, lowest score first, with the columns of push's
    "Most uncertain first" tab (score, model version, annotation counts shown)."""
    items = [{"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": int(t)} for t in task_ids]
    if not items:  # an empty batch must show no task, not every task
        items = [{"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": -1}]
    return {**queue_view(), "title": QUEUE_TAB, "filters": {"conjunction": "or", "items": items}}


def save_queue_view(client: StudioClient, project_id: int, data: dict[str, Any]) -> int:
    """Replace the data of the project's QUEUE_TAB, or create it; returns its id."""
    for view in client.views(project_id):
        if (view.get("data") or {}).get("title") == QUEUE_TAB:
            client.update_view(int(view["id"]), project_id, data)
            return int(view["id"])
    return client.create_view(project_id, data)


def rerank(client: StudioClient, project_id: int, model: Any, batch_size: int, strategy: str, queue_batch: int,
           uncertainty_sampling: bool = True, seed: int = 0, label_config: str | None = None) -> QueueReport:
    """After a switch to `model`: score the open tasks, point the project at the new version
    (and at uncertainty sampling when asked), refresh the "Next batch" tab. `label_config`, when
    given, replaces the labeling view in the same request (it names the model whose ticks it shows).

    Raises StudioError when Label Studio refuses or cannot be reached (what was done stays).
    """
    report = QueueReport(model_version=model.model_version)
    tasks = open_tasks(client.tasks(project_id, full=True))
    report.open_tasks = len(tasks)
    scores, report.scored, report.requests = rescore(client, project_id, tasks, model, batch_size)
    settings: dict[str, Any] = {"model_version": model.model_version}
    if uncertainty_sampling:
        settings["sampling"] = UNCERTAINTY_SAMPLING
    if label_config is not None:
        settings["label_config"] = label_config
    client.update_project(project_id, **settings)
    report.next_batch = next_batch(tasks, scores, queue_batch, strategy, seed)
    report.view_id = save_queue_view(client, project_id, queue_view_data(report.next_batch))
    return report
