"""The ML backend app in-process (starlette's TestClient), beside the real-process tests in
test_backend.py: the protocol's shapes, batching, refusals, the shared secret on disk."""
from __future__ import annotations

import base64
import stat

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labeling.schema import load_schema
from labeling.studio.config_xml import build_label_config
from training.studio_backend.app import (SECRET_ENV, SECRET_FILE, basic_auth_header, config_mismatch, create_app,
                                         resolve_secret)
from training.studio_backend.serving import ModelHolder, ServingModel

TAGS = ("escalation", "de-escalation", "accusation", "denial")
SECRET = "s3cret-for-tests"


class WordScorer:
    """A stand-in scorer: p(tag) = 0.9 when the text holds the tag's first letters, else 0.1;
    records each batch it scores."""

    kind, tags, thresholds, model_dir = "stub", list(TAGS), np.full(4, 0.5), None

    def __init__(self):
        self.batches: list[list[str]] = []

    def predict_proba(self, texts):
        self.batches.append(list(texts))
        return np.array([[0.9 if tag[:4] in text else 0.1 for tag in TAGS] for text in texts])


class Recorder:
    def __init__(self):
        self.events: list[dict] = []

    def submit(self, event: dict) -> None:
        self.events.append(event)


def _model(version: str = "stub v1") -> ServingModel:
    return ServingModel(uri="stub", model_version=version, tags=TAGS, scorer=WordScorer(),
                        thresholds=dict.fromkeys(TAGS, 0.5))


@pytest.fixture
def backend():
    holder, sink = ModelHolder(_model()), Recorder()
    client = TestClient(create_app(holder, SECRET, sink, batch_size=2))
    client.headers["Authorization"] = basic_auth_header(SECRET)
    return client, holder, sink


def _tasks(*texts: str) -> dict:
    return {"tasks": [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(texts)], "project": "1.1"}


def test_health_answers_without_credentials_and_names_the_model():
    client = TestClient(create_app(ModelHolder(_model("stance v7")), SECRET))
    for path in ("/health", "/"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.json()["status"] == "UP" and answer.json()["model_version"] == "stance v7"


def test_predict_answers_one_prediction_per_task_in_order_scored_in_batches(backend):
    client, holder, _ = backend
    answer = client.post("/predict", json=_tasks("They escalate.", "A denial here.", "Nothing.", "accused and denied"))
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["result"][0]["value"]["choices"] if r["result"] else [] for r in results] == [
        ["escalation"], ["denial"], [], ["accusation", "denial"]]
    assert {r["model_version"] for r in results} == {"stub v1"}
    for r in results:
        assert r["result"] == [] or (r["result"][0]["from_name"], r["result"][0]["to_name"]) == ("stance", "text")
        assert 0.0 <= r["score"] <= 1.0
    assert [len(b) for b in holder.get().scorer.batches] == [2, 2]  # batch_size=2


def test_predict_after_a_swap_names_the_new_version(backend):
    client, holder, _ = backend
    holder.swap(_model("stub v2"))
    assert client.post("/predict", json=_tasks("x")).json()["results"][0]["model_version"] == "stub v2"
    assert client.post("/setup", json={}).json() == {"model_version": "stub v2"}


def test_swap_refuses_a_model_with_other_tags():
    holder = ModelHolder(_model())
    other = ServingModel(uri="o", model_version="o", tags=TAGS[::-1], scorer=WordScorer(), thresholds={})
    with pytest.raises(ValueError, match="tags"):
        holder.swap(other)
    assert holder.get().model_version == "stub v1"


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not JSON"),
    (b"[1, 2]", 422, "JSON object"),
    (b'{"tasks": "all"}', 422, "list of Label Studio tasks"),
    (b'{"tasks": [{"id": 5, "data": {"image": "x.png"}}]}', 422, "task 5: no data.text"),
])
def test_predict_refuses_malformed_requests(backend, body, status, message):
    client, holder, _ = backend
    answer = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert holder.get().scorer.batches == []


def test_setup_refuses_a_labeling_config_with_other_tags_naming_both_lists(backend):
    client, _, _ = backend
    good = build_label_config(load_schema())
    assert client.post("/setup", json={"schema": good, "project": "1.1"}).json() == {"model_version": "stub v1"}
    bad = good.replace('value="denial"', 'value="refusal"')
    answer = client.post("/setup", json={"schema": bad})
    assert answer.status_code == 422
    assert "'refusal'" in answer.json()["error"] and "'denial'" in answer.json()["error"]


def test_config_mismatch_names_a_missing_control():
    assert "no Choices named 'stance'" in config_mismatch("<View><Text name='text' value='$text'/></View>", TAGS)
    assert "not valid XML" in config_mismatch("<View>", TAGS)


def test_webhook_queues_known_events_and_answers_at_once(backend):
    client, _, sink = backend
    for action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "START_TRAINING"):
        answer = client.post("/webhook", json={"action": action, "project": {"id": 3}, "annotation": {"id": 1}})
        assert answer.status_code == 200 and answer.json()["action"] == action
    assert [e["action"] for e in sink.events] == ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                                                  "START_TRAINING"]


@pytest.mark.parametrize("body, status", [
    (b"{oops", 400),
    (b'{"action": "PROJECT_DELETED", "project": {"id": 3}}', 422),
    (b'{"action": "ANNOTATION_CREATED"}', 422),
    (b'{"action": "ANNOTATION_CREATED", "project": {"id": "3"}}', 422),
    (b'"ANNOTATION_CREATED"', 422),
])
def test_webhook_refuses_malformed_or_unknown_events_and_queues_nothing(backend, body, status):
    client, _, sink = backend
    answer = client.post("/webhook", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert sink.events == []


@pytest.mark.parametrize("header", [
    None, "Bearer " + SECRET, basic_auth_header("wrong"), "Basic !!notbase64!!",
    "Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode(),  # right password, wrong user
])
@pytest.mark.parametrize("path", ["/webhook", "/predict", "/setup"])
def test_every_route_but_health_needs_the_shared_secret(backend, header, path):
    client, holder, sink = backend
    headers = {"Authorization": header} if header else {}
    client.headers.pop("Authorization")
    answer = client.post(path, json={"action": "START_TRAINING", "project": {"id": 1}, **_tasks("escalate")},
                         headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert SECRET not in answer.text
    assert sink.events == [] and holder.get().scorer.batches == []


def test_create_app_refuses_an_empty_secret():
    with pytest.raises(ValueError, match="secret"):
        create_app(ModelHolder(_model()), "")


def test_secret_is_created_owner_only_once_and_the_environment_overrides_it(tmp_path):
    first = resolve_secret(tmp_path / "ls", env={})
    assert len(first) >= 24
    path = tmp_path / "ls" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret(tmp_path / "ls", env={}) == first
    assert resolve_secret(tmp_path / "ls", env={SECRET_ENV: " from-env \n"}) == "from-env"


def test_champion_is_the_exported_folder_else_none_without_a_store(tmp_path, monkeypatch):
    from training.studio_backend import serving

    folder = tmp_path / "models" / "champion"
    monkeypatch.setattr(serving, "CHAMPION_DIR", folder)
    store = f"sqlite:///{tmp_path / 'no-such.db'}"
    assert serving.champion_uri(store) is None
    assert not (tmp_path / "no-such.db").exists()  # looking did not create an empty store
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    assert serving.champion_uri(store) == str(folder)
