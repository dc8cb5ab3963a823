"""Learning while annotators work (training.studio_backend.learner, compare, queue).

Unit tests feed the Learner a fake event stream (its retrain replaced) and score real tiny
models; the integration tests run the real thing: a real Label Studio (tests/studio/conftest.py),
annotations made through its API, a real MLflow store in tmp, and the Learner's background job.
"""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from labeling.config import ConfigError
from labeling.studio.config_xml import build_label_config
from labeling.schema import load_schema
from labeling.studio.settings import StudioConfig
from labeling.studio.tasks import Group, build_task
from tests.helpers import TAGS, make_rows, train_tiny_baseline
from tests.studio.helpers import choices
from training.studio_backend.compare import NothingToCompare, compare_on_folds
from training.studio_backend.config import BackendConfig, load_backend_config
from training.studio_backend.learner import Learner, changes
from training.studio_backend.queue import QUEUE_TAB, next_batch, open_tasks, queue_view_data, rescore
from training.studio_backend.serving import ModelHolder, load_serving

FAST = {"c_grid": [1.0], "cv_folds": 2, "char_ngrams": [3, 4], "char_buckets": 4096, "max_word_features": 2000}


def _write_yaml(path: Path, values: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def _model(tmp: Path, rows: list[dict], name: str = "serving", shuffle: bool = False, **config) -> Path:
    """A real tiny baseline folder; `shuffle`: labels rotated so that it learns nonsense."""
    if shuffle:
        rows = [{**r, "labels": rows[(i + 1) % len(rows)]["labels"]} for i, r in enumerate(rows)]
    cut = int(len(rows) * 0.75)
    return train_tiny_baseline(rows[:cut], rows[cut:], tmp / name, **{**FAST, **config})


# --- config -------------------------------------------------------------------------------

def test_backend_config_defaults_and_unknown_key_named(tmp_path):
    cfg = load_backend_config()
    assert cfg.min_new_annotations >= 1 and cfg.cv_folds >= 2
    bad = _write_yaml(tmp_path / "backend.yaml", {"min_new_annotation": 5})
    with pytest.raises(ConfigError, match="min_new_annotation: unknown key"):
        load_backend_config(bad)
    with pytest.raises(ConfigError, match="queue_strategy.*unknown strategy 'newest'"):
        load_backend_config(_write_yaml(tmp_path / "b2.yaml", {"queue_strategy": "newest"}))


# --- the event stream (fake retrain) ------------------------------------------------------

def test_changes_counts_created_updated_deleted_annotations_only():
    assert changes({"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}) == 1
    assert changes({"action": "ANNOTATION_UPDATED", "annotation": {"id": 1}}) == 1
    assert changes({"action": "ANNOTATIONS_CREATED", "annotation": [{"id": 1}, {"id": 2}]}) == 2
    assert changes({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}, {"id": 2}, {"id": 3}]}) == 3
    assert changes({"action": "PROJECT_UPDATED"}) == 0
    assert changes({"action": "START_TRAINING"}) == 0
    assert changes({}) == 0


@pytest.fixture
def holder(tmp_path) -> ModelHolder:
    return ModelHolder(load_serving(str(_model(tmp_path, make_rows(40))), TAGS))


def _fake_learner(holder, tmp_path, n: int, release: threading.Event | None = None):
    learner = Learner(BackendConfig(min_new_annotations=n), StudioConfig(annotations_dir=str(tmp_path / "ann")),
                      holder, TAGS)
    calls = []

    def fake_retrain(trigger: str, forced: bool) -> dict:
        calls.append((trigger, forced))
        if release is not None:
            assert release.wait(30)
        return {"decision": "kept", "reason": "fake"}

    learner._try_retrain = fake_retrain  # the worker calls it; everything around it is real
    return learner, calls


def test_retrain_starts_after_n_changes_and_on_start_training(holder, tmp_path):
    learner, calls = _fake_learner(holder, tmp_path, n=3)
    try:
        for _ in range(2):
            learner.submit({"action": "ANNOTATION_CREATED", "annotation": {"id": 1}})
        learner.submit({"action": "PROJECT_UPDATED"})
        assert learner.wait_idle(10)
        assert calls == [] and learner.status()["pending_annotations"] == 2
        learner.submit({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}]})
        assert learner.wait_idle(10)
        assert calls == [("3 annotation changes since the last try", False)]
        assert learner.status()["pending_annotations"] == 0
        learner.submit({"action": "START_TRAINING", "project": {"id": 1}})
        assert learner.wait_idle(10)
        assert calls[-1] == ("start training requested", True)
        status = learner.status()
        assert status["last_decision"]["decision"] == "kept" and status["serving"] == holder.get().model_version
    finally:
        learner.close()


def test_submit_returns_at_once_while_a_retrain_runs(holder, tmp_path):
    release = threading.Event()
    learner, calls = _fake_learner(holder, tmp_path, n=1, release=release)
    try:
        learner.submit({"action": "ANNOTATION_CREATED"})
        deadline = time.monotonic() + 10
        while not learner.status()["training"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert learner.status()["training"]
        started = time.perf_counter()
        for _ in range(50):
            learner.submit({"action": "ANNOTATION_UPDATED"})
        assert time.perf_counter() - started < 0.5  # never waits for the job in progress
        assert learner.status()["training"]
        release.set()
        assert learner.wait_idle(30)
        assert not learner.status()["training"]
    finally:
        release.set()
        learner.close()
    with pytest.raises(RuntimeError, match="closed"):
        learner.submit({"action": "ANNOTATION_CREATED"})


def test_close_finishes_the_retrain_in_progress_and_starts_no_other(holder, tmp_path):
    release = threading.Event()
    learner, calls = _fake_learner(holder, tmp_path, n=1, release=release)
    learner.submit({"action": "ANNOTATION_CREATED"})
    deadline = time.monotonic() + 10
    while not learner.status()["training"] and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(3):
        learner.submit({"action": "ANNOTATION_CREATED"})  # each would start a retrain
    threading.Timer(0.3, release.set).start()
    learner.close(timeout=30)
    assert len(calls) == 1 and learner.status()["last_decision"]["decision"] == "kept"
    assert learner.wait_idle(1)


def test_a_crashing_retrain_is_reported_and_the_worker_goes_on(holder, tmp_path):
    learner = Learner(BackendConfig(min_new_annotations=1), StudioConfig(annotations_dir=str(tmp_path / "a")),
                      holder, TAGS)

    def boom(trigger: str, forced: bool) -> dict:
        raise RuntimeError("disk full")

    learner._try_retrain = boom
    try:
        before = holder.get()
        learner.submit({"action": "ANNOTATION_CREATED"})
        assert learner.wait_idle(10)
        status = learner.status()
        assert status["last_decision"]["decision"] == "failed" and "disk full" in status["last_decision"]["reason"]
        assert "disk full" in status["last_error"] and holder.get() is before
        learner.submit({"action": "START_TRAINING"})  # still alive
        assert learner.wait_idle(10)
    finally:
        learner.close()


# --- the comparison (real tiny models) ----------------------------------------------------

def test_compare_prefers_the_retrained_recipe_over_a_model_that_learned_nonsense(tmp_path):
    from training.baseline import BaselineConfig

    rows = make_rows(36, seed=3)
    weak = load_serving(str(_model(tmp_path, make_rows(40, seed=9), shuffle=True)), TAGS)
    result = compare_on_folds(rows, TAGS, weak.scorer, BaselineConfig(**FAST), k=3, seed=0)
    assert result.rows == 36 and result.folds == 3 and not result.lineage
    assert result.candidate > result.serving


def test_compare_leaves_out_what_the_serving_model_was_trained_on(tmp_path):
    from training.baseline import BaselineConfig
    from training.lineage import write_lineage

    rows = make_rows(36, seed=3)
    model_dir = _model(tmp_path, rows[:12] + make_rows(20, seed=5))
    write_lineage(model_dir, {"fingerprint": "x"}, {"train": rows[:12], "validation": []})
    serving = load_serving(str(model_dir), TAGS)
    seen = {r["text"].casefold() for r in rows[:12]}
    expected = sum(1 for r in rows if r["text"].casefold() not in seen)
    result = compare_on_folds(rows, TAGS, serving.scorer, BaselineConfig(**FAST), k=3, seed=0)
    assert result.lineage and result.rows == expected < 36
    write_lineage(model_dir, {"fingerprint": "x"}, {"train": rows, "validation": []})
    with pytest.raises(NothingToCompare, match="all 36 annotated sentences"):
        compare_on_folds(rows, TAGS, load_serving(str(model_dir), TAGS).scorer, BaselineConfig(**FAST), k=3, seed=0)


# --- the queue (pure parts, and rescoring against a recording client) --------------------

def _task(i: int, labeled: bool = False, preds=(), article: str | None = None) -> dict:
    return {"id": i, "is_labeled": labeled, "predictions": list(preds),
            "data": {"text": f"Sentence {i}.", "sentence_id": f"s-{i}", "group_id": f"g-{i}",
                     "article_id": article or f"a-{i}"}}


def test_open_tasks_and_next_batch_least_sure_first():
    tasks = [_task(1), _task(2, labeled=True), _task(3), _task(4), {"id": 5, "data": {"image": "x.png"}}]
    opened = open_tasks(tasks)
    assert [t["id"] for t in opened] == [1, 3, 4]
    scores = {1: 0.9, 3: 0.55, 4: 0.7}
    assert next_batch(opened, scores, 2, "uncertainty") == [3, 4]
    assert next_batch(opened, scores, 10, "uncertainty") == [3, 4, 1]
    picked = next_batch(opened, scores, 2, "random", seed=1)
    assert len(picked) == 2 and set(picked) <= {1, 3, 4} and picked == sorted(picked, key=scores.get)
    data = queue_view_data([3, 4])
    assert data["title"] == QUEUE_TAB and data["ordering"] == ["tasks:predictions_score"]
    assert [item["value"] for item in data["filters"]["items"]] == [3, 4]
    assert [item["value"] for item in queue_view_data([])["filters"]["items"]] == [-1]


class RecordingClient:
    def __init__(self):
        self.imports: list[list[dict]] = []

    def import_predictions(self, project_id: int, predictions: list[dict]) -> int:
        self.imports.append(predictions)
        return len(predictions)


def test_rescore_in_batches_keeps_predictions_of_this_version(holder):
    model = holder.get()
    tasks = [_task(i) for i in range(5)] + [_task(9, preds=[{"model_version": model.model_version, "score": 0.61}])]
    client = RecordingClient()
    scores, added, requests = rescore(client, 7, tasks, model, batch_size=2)
    assert (added, requests) == (5, 3) and [len(b) for b in client.imports] == [2, 2, 1]
    assert scores[9] == 0.61 and set(scores) == {0, 1, 2, 3, 4, 9}
    sent = [p for batch in client.imports for p in batch]
    assert [p["task"] for p in sent] == [0, 1, 2, 3, 4]
    assert all(p["model_version"] == model.model_version and 0.5 <= p["score"] <= 1 for p in sent)


# --- the real thing: Label Studio, MLflow, the background job -----------------------------

@pytest.fixture
def studio_env(studio_server, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", studio_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.api_key)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return studio_server


def _project(server, rows: list[dict], annotate: int) -> tuple[str, int, list[int]]:
    """A project with one task per row; the first `annotate` rows annotated with their labels
    through the API. Returns (title, project id, task ids in row order)."""
    from label_studio_sdk import LabelStudio

    from labeling.studio.client import StudioClient

    client = StudioClient(server.connection)
    title = f"Learner {uuid.uuid4().hex[:6]}"
    project = client.create_project(title, build_label_config(load_schema()))
    records = [{"sentence_id": f"s-{r['id']}", "group_id": r["group_id"], "article_id": r["article_id"],
                "text": r["text"]} for r in rows]
    ids = client.import_tasks(project["id"], [build_task(Group(representative=rec)) for rec in records])
    by_sentence = {t["data"]["sentence_id"]: t["id"] for t in client.tasks(project["id"], full=False)}
    ids = [by_sentence[rec["sentence_id"]] for rec in records]
    sdk = LabelStudio(base_url=server.url, api_key=server.api_key)
    for task_id, row in zip(ids[:annotate], rows[:annotate]):
        sdk.annotations.create(task_id, result=choices(*row["labels"]) if row["labels"] else [])
    return title, project["id"], ids


def _learner(tmp_path, title: str, holder: ModelHolder, store: str, n: int, **baseline) -> Learner:
    cfg = BackendConfig(min_new_annotations=n, cv_folds=3, tracking_uri=store, experiment="backend-test",
                        baseline_config=str(_write_yaml(tmp_path / f"baseline-{uuid.uuid4().hex[:4]}.yaml",
                                                        {**FAST, **baseline})),
                        rescore_batch_size=7, queue_batch=5)
    studio = StudioConfig(project_title=title, annotations_dir=str(tmp_path / "annotations"),
                          server_data_dir=str(tmp_path / "nowhere"), retries=1, retry_backoff_s=0.1)
    return Learner(cfg, studio, holder, TAGS, load_schema())


def _runs(store: str) -> list[dict]:
    from training.tracking import search_runs

    return search_runs(store, "backend-test")



@pytest.mark.studio
@pytest.mark.slow
def test_annotations_retrain_register_switch_and_rescore_the_queue(studio_env, tmp_path):
    from labeling.studio.client import StudioClient
    from training.registry import list_models

    rows = make_rows(40, seed=4)
    title, project_id, ids = _project(studio_env, rows, annotate=24)
    weak = ModelHolder(load_serving(str(_model(tmp_path, make_rows(40, seed=8), shuffle=True)), TAGS))
    before = weak.get().model_version
    store = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    learner = _learner(tmp_path, title, weak, store, n=24)
    try:
        for task_id in ids[:23]:
            learner.submit({"action": "ANNOTATION_CREATED", "annotation": {"id": task_id}, "task": {"id": task_id}})
        assert learner.wait_idle(30) and learner.status()["last_decision"] is None  # 23 < 24: no retrain
        learner.submit({"action": "ANNOTATION_CREATED", "annotation": {"id": ids[23]}})
        assert learner.wait_idle(300)
        status = learner.status()
    finally:
        learner.close()
    decision = status["last_decision"]
    assert decision["decision"] == "switched", status
    assert status["serving"] == weak.get().model_version == "stance-baseline v1" != before
    assert [(m["name"], m["version"]) for m in list_models(store)] == [("stance-baseline", "1")]
    (run,) = _runs(store)
    assert run["status"] == "FINISHED" and run["tags"]["backend.decision"] == "switched"
    assert run["metrics"]["backend.cv_macro_f1"] >= run["metrics"]["backend.serving_cv_macro_f1"]
    assert run["tags"]["registered_model"] == "stance-baseline/1"
    # the queue: each open task carries a prediction of the new version; the project serves the least sure first
    client = StudioClient(studio_env.connection)
    tasks = {t["id"]: t for t in client.tasks(project_id)}
    for task_id in ids[24:]:
        preds = [p for p in tasks[task_id]["predictions"] if p["model_version"] == "stance-baseline v1"]
        assert len(preds) == 1 and 0.5 <= preds[0]["score"] <= 1.0
    assert all(not any(p["model_version"] == "stance-baseline v1" for p in tasks[i]["predictions"]) for i in ids[:24])
    project = client.find_project(title)
    assert project["sampling"] == "Uncertainty sampling" and project["model_version"] == "stance-baseline v1"
    assert "from the model stance-baseline v1" in project["label_config"]  # the labeling view names the new model
    (tab,) = [v for v in client.views(project_id) if v["data"].get("title") == QUEUE_TAB]
    batch = [item["value"] for item in tab["data"]["filters"]["items"]]
    assert batch == status["last_queue"]["next_batch"] and len(batch) == 5
    open_scores = sorted(tasks[i]["predictions"][0]["score"] for i in ids[24:])
    assert [tasks[i]["predictions"][0]["score"] for i in batch] == open_scores[:5]
    # "Label All Tasks" (the label stream's next task) serves the least sure open task first
    answer = httpx.get(f"{studio_env.url}/api/projects/{project_id}/next",
                       headers={"Authorization": f"Token {studio_env.api_key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert tasks[answer.json()["id"]]["predictions"][0]["score"] == open_scores[0]
    answer = httpx.get(f"{studio_env.url}/api/projects/{project_id}/next", params={"view": tab["id"]},
                       headers={"Authorization": f"Token {studio_env.api_key}"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["id"] in batch


@pytest.mark.studio
@pytest.mark.slow
def test_a_worse_retrain_is_registered_but_not_served(studio_env, tmp_path):
    from training.registry import list_models

    rows = make_rows(40, seed=4)
    title, _, _ = _project(studio_env, rows, annotate=24)
    strong = ModelHolder(load_serving(str(_model(tmp_path, make_rows(120, seed=6))), TAGS))
    before = strong.get()
    store = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    # a recipe that can barely see the words: a deliberately bad retrain
    learner = _learner(tmp_path, title, strong, store, n=100, max_word_features=1, char_buckets=2, c_grid=[0.001])
    try:
        learner.submit({"action": "START_TRAINING", "project": {"id": 1}})
        assert learner.wait_idle(300)
        status = learner.status()
    finally:
        learner.close()
    decision = status["last_decision"]
    assert decision["decision"] == "kept" and "is worse" in decision["reason"], status
    assert strong.get() is before and status["serving"] == before.model_version
    assert [(m["name"], m["version"]) for m in list_models(store)] == [("stance-baseline", "1")]
    (run,) = _runs(store)
    assert run["tags"]["backend.decision"] == "kept" and "is worse" in run["tags"]["backend.reason"]
    assert run["metrics"]["backend.cv_macro_f1"] < run["metrics"]["backend.serving_cv_macro_f1"]


@pytest.mark.studio
@pytest.mark.slow
def test_a_failing_retrain_is_a_failed_run_and_the_model_keeps_serving(studio_env, tmp_path):
    from training.registry import list_models

    title, _, _ = _project(studio_env, make_rows(30, seed=4), annotate=24)
    holder = ModelHolder(load_serving(str(_model(tmp_path, make_rows(40, seed=6))), TAGS))
    before = holder.get()
    store = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    learner = _learner(tmp_path, title, holder, store, n=1, c_grid=[-1.0])  # scikit-learn refuses C < 0
    try:
        learner.submit({"action": "ANNOTATION_UPDATED", "annotation": {"id": 1}})
        assert learner.wait_idle(300)
        status = learner.status()
    finally:
        learner.close()
    assert status["last_decision"]["decision"] == "failed" and status["last_error"], status
    assert holder.get() is before
    (run,) = _runs(store)
    assert run["status"] == "FAILED"
    assert list_models(store) == []


@pytest.mark.studio
@pytest.mark.slow
def test_too_few_annotations_skip_the_retrain_without_a_run(studio_env, tmp_path):
    title, _, _ = _project(studio_env, make_rows(12, seed=4), annotate=4)
    holder = ModelHolder(load_serving(str(_model(tmp_path, make_rows(40, seed=6))), TAGS))
    store = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    learner = _learner(tmp_path, title, holder, store, n=100)
    try:
        learner.submit({"action": "START_TRAINING"})
        assert learner.wait_idle(120)
        status = learner.status()
    finally:
        learner.close()
    decision = status["last_decision"]
    assert decision["decision"] == "skipped" and "not enough data yet" in decision["reason"], status
    assert "3-fold cross-validation needs at least 3 examples of every tag" in decision["reason"]
    assert _runs(store) == [] and status["last_error"] is None
