"""The ML backend for real: a real Label Studio, a real `stance label serve` process with a
tiny baseline trained here, `stance label connect`, predictions Label Studio fetches itself,
annotation webhooks, and a retrain that lands in MLflow and in later predictions."""
from __future__ import annotations

import socket
import time
import uuid

import httpx
import pytest
import yaml

from labeling.schema import load_schema
from labeling.studio.client import StudioClient
from labeling.studio.config_xml import build_label_config
from labeling.studio.server import free_port
from labeling.studio.tasks import build_task, group_sentences
from tests.helpers import cli_invoker
from tests.studio.helpers import TINY_BASELINE, choices, sentence, start_backend, tiny_model
from training.studio_backend.app import basic_auth_header
from training.studio_backend.connection import BACKEND_TITLE
from training.studio_backend.serving import load_serving

pytestmark = [pytest.mark.studio, pytest.mark.slow]

TAGS = load_schema().names
# labels for sentence(i) by i % 6 (TEXTS in helpers): what an annotator would tick
GOLD = [["escalation"], ["de-escalation"], ["accusation"], ["denial"], [], ["escalation"]]
RETRAIN_AFTER = 18  # annotations that start a retrain (backend.yaml's min_new_annotations)


def _setup(tmp_path, server, title: str):
    data_dir = tmp_path / "ls-data"
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(yaml.safe_dump({"project_title": title, "server_data_dir": str(data_dir),
                                   "annotations_dir": str(tmp_path / "ann"), "url": server.url}))
    env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.api_key}
    client = StudioClient(server.connection)
    project = client.create_project(title, build_label_config(load_schema()))
    return cfg, env, client, project


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "stance-baseline")


@pytest.fixture(scope="module")
def live(studio_server, model_dir, tmp_path_factory):
    """A project, a running backend learning into a private MLflow store, connected once."""
    tmp = tmp_path_factory.mktemp("backend")
    cfg, env, client, project = _setup(tmp, studio_server, f"Backend {uuid.uuid4().hex[:6]}")
    baseline_cfg = tmp / "baseline.yaml"
    baseline_cfg.write_text(yaml.safe_dump({**TINY_BASELINE, "char_ngrams": [3, 5], "cv_folds": 2}))
    backend_cfg = tmp / "backend.yaml"
    # max_drop 1: any retrained model is served, so that the test sees the switch
    backend_cfg.write_text(yaml.safe_dump({
        "min_new_annotations": RETRAIN_AFTER, "cv_folds": 2, "max_drop": 1.0, "baseline_config": str(baseline_cfg),
        "register_as": "stance-test", "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
        "experiment": "backend-test"}))
    backend = start_backend(model_dir, cfg, env, tmp / "backend.log", "--backend-config", str(backend_cfg))
    try:
        res = cli_invoker("label", env=env)("connect", "--url", backend.url, "--config", cfg)
        assert res.exit_code == 0, res.output
        yield {"cfg": cfg, "env": env, "client": client, "project": project, "backend": backend,
               "store": f"sqlite:///{tmp / 'mlflow.db'}", "server": studio_server}
    finally:
        backend.stop()


def _import(client, project_id: int, records: list[dict]) -> list[int]:
    groups, _ = group_sentences((str(i), r) for i, r in enumerate(records))
    return client.import_tasks(project_id, [build_task(g) for g in groups])


def test_health_names_the_served_model_by_folder_and_fingerprint(live, model_dir):
    health = live["backend"].health()
    assert health["status"] == "UP"
    assert health["model_version"] == load_serving(str(model_dir), TAGS).model_version
    assert health["model_version"].startswith("stance-baseline ") and len(health["model_version"].split()[1]) == 12


def test_serve_refuses_a_model_whose_tags_differ_from_the_schema_naming_both(model_dir, tmp_path):
    raw = yaml.safe_load(open("configs/labels.yaml", encoding="utf-8"))
    raw["tags"] = raw["tags"][::-1]
    schema = tmp_path / "labels.yaml"
    schema.write_text(yaml.safe_dump(raw))
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"server_data_dir: {tmp_path / 'ls'}\n")
    res = cli_invoker("label")("serve", "--model", model_dir, "--schema", schema, "--config", cfg,
                               "--port", free_port(), "--no-learn")
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert str(TAGS) in out and str(TAGS[::-1]) in out


def test_connect_twice_leaves_one_backend_one_authenticated_webhook_and_predicted_open_tasks(live, model_dir):
    client, project, backend = live["client"], live["project"], live["backend"]
    served = load_serving(str(model_dir), TAGS)
    # connected once on an empty project: no prediction names a version yet, the backend's title stands in
    assert client.find_project(project["title"], project["id"])["model_version"] == BACKEND_TITLE
    ids = _import(client, project["id"], [sentence(50 + i, article=50 + i) for i in range(3)])
    res = cli_invoker("label", env=live["env"])("connect", "--url", backend.url, "--config", live["cfg"])
    assert res.exit_code == 0, res.output
    assert "updated" in res.output
    backends = client.ml_backends(project["id"])
    assert [(b["url"], b["title"], b["is_interactive"], b["auth_method"]) for b in backends] == [
        (backend.url, BACKEND_TITLE, True, "BASIC_AUTH")]
    hooks = [w for w in client.webhooks(project["id"]) if w["url"].startswith(backend.url)]
    assert [(w["url"], w["headers"], w["send_for_all_actions"]) for w in hooks] == [
        (f"{backend.url}/webhook", {"Authorization": basic_auth_header(backend.secret)}, False)]
    settings = client.find_project(project["title"], project["id"])
    assert (settings["show_collab_predictions"], settings["evaluate_predictions_automatically"],
            settings["model_version"], settings["sampling"]) == (True, True, served.model_version,
                                                                 "Uncertainty sampling")
    assert f"model {served.model_version}" in settings["label_config"]  # the view names the model
    tasks = [t for t in client.tasks(project["id"]) if t["id"] in ids]
    assert [[p["model_version"] for p in t["predictions"]] for t in tasks] == [[served.model_version]] * 3


def test_imported_tasks_each_get_a_prediction_with_the_serving_version(live, model_dir):
    client, project = live["client"], live["project"]
    records = [sentence(100 + i, article=100 + i) for i in range(5)]
    ids = _import(client, project["id"], records)
    tasks = {t["id"]: t for t in client.tasks(project["id"]) if t["id"] in ids}  # the listing asks the backend
    served = load_serving(str(model_dir), TAGS)
    expected = served.predictions([r["text"] for r in records])
    for task_id, want in zip(ids, expected):
        (pred,) = tasks[task_id]["predictions"]
        assert pred["model_version"] == served.model_version == live["backend"].health()["model_version"]
        assert pred["result"] == want["result"]
        assert pred["score"] == pytest.approx(want["score"], abs=1e-6)


def test_predict_scores_a_batch_in_task_order(live, model_dir):
    backend = live["backend"]
    texts = [f"{t} ({i})" for i, t in enumerate(["Troops massed at the border.", "Talks resumed.",
                                                 "They denied it.", "It rained."] * 3)]
    body = {"tasks": [{"id": i, "data": {"text": t}} for i, t in enumerate(texts)], "project": "1.1"}
    answer = httpx.post(f"{backend.url}/predict", json=body, headers=backend.auth(), timeout=60)
    assert answer.status_code == 200
    assert answer.json()["results"] == load_serving(str(model_dir), TAGS).predictions(texts)


def test_bad_or_unauthenticated_webhooks_get_4xx_and_change_nothing(live):
    backend = live["backend"]
    before = backend.health()["learner"]
    event = {"action": "START_TRAINING", "project": {"id": live["project"]["id"]}}
    url = f"{backend.url}/webhook"
    assert httpx.post(url, json=event, timeout=10).status_code == 401
    wrong = {"Authorization": basic_auth_header("not-the-secret")}
    assert httpx.post(url, json=event, headers=wrong, timeout=10).status_code == 401
    assert httpx.post(url, content=b"{broken", headers={**backend.auth(), "Content-Type": "application/json"},
                      timeout=10).status_code == 400
    assert httpx.post(url, json={"action": "PROJECT_DELETED", "project": {"id": 1}}, headers=backend.auth(),
                      timeout=10).status_code == 422
    time.sleep(1)
    after = backend.health()["learner"]
    assert after == before  # no retrain started, no annotation counted
    assert after["training"] is False and after["last_decision"] is None


def test_connect_says_when_the_backend_is_down_or_silent_and_changes_nothing(studio_server, tmp_path):
    cfg, env, client, project = _setup(tmp_path, studio_server, f"Down {uuid.uuid4().hex[:6]}")
    down = f"http://127.0.0.1:{free_port()}"
    res = cli_invoker("label", env=env)("connect", "--url", down, "--config", cfg)
    assert res.exit_code == 1
    assert f"no ML backend answers at {down}" in " ".join(res.output.split())
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        res = cli_invoker("label", env=env)("connect", "--url", url, "--config", cfg, "--timeout", "1")
    assert res.exit_code == 1
    assert "did not answer within 1 s" in " ".join(res.output.split())
    assert client.ml_backends(project["id"]) == [] and client.webhooks(project["id"]) == []
    assert client.find_project(project["title"], project["id"])["model_version"] in ("", None)


def test_annotations_through_the_api_retrain_register_and_serve_a_new_version(live):
    from training.registry import list_models

    client, project, backend = live["client"], live["project"], live["backend"]
    first = backend.health()["model_version"]
    numbers = range(200, 200 + RETRAIN_AFTER)
    ids = _import(client, project["id"], [sentence(n, article=n) for n in numbers])
    for task_id, n in zip(ids, numbers):  # each one a webhook event to the backend
        client._ls.annotations.create(task_id, result=choices(*GOLD[n % len(GOLD)]))
    deadline = time.monotonic() + 300
    while (learner := backend.health()["learner"])["last_decision"] is None and time.monotonic() < deadline:
        time.sleep(2)
    decision = learner["last_decision"]
    assert decision is not None, f"no retrain within 300 s: {learner}\n{backend.log.read_text()[-3000:]}"
    assert decision["decision"] == "switched", decision
    versions = [(m["name"], m["version"]) for m in list_models(live["store"])]
    assert versions == [("stance-test", "1")]
    assert backend.health()["model_version"] == "stance-test v1" != first

    later = _import(client, project["id"], [sentence(300, article=300)])
    (task,) = [t for t in client.tasks(project["id"]) if t["id"] in later]
    assert [p["model_version"] for p in task["predictions"]] == ["stance-test v1"]


def test_backend_log_holds_neither_the_secret_nor_the_studio_key(live):
    log = live["backend"].log.read_text()
    assert "POST /webhook" in log and "POST /predict" in log
    assert live["backend"].secret not in log
    assert live["server"].api_key not in log


def test_serve_connect_connects_itself_once_the_project_answers(studio_server, model_dir, tmp_path):
    cfg, env, client, project = _setup(tmp_path, studio_server, f"Self {uuid.uuid4().hex[:6]}")
    backend = start_backend(model_dir, cfg, env, tmp_path / "backend.log", "--no-learn", "--connect")
    try:  # the backend is listed before the connection finishes (webhook, open tasks), so wait for its report
        deadline = time.monotonic() + 120
        while not _connect_reported(backend.log.read_text()) and time.monotonic() < deadline:
            time.sleep(1)
        log = backend.log.read_text()
        assert "ML backend connected" in log, log[-3000:]
        assert [b["url"] for b in client.ml_backends(project["id"])] == [backend.url], log[-3000:]
    finally:
        backend.stop()


def _connect_reported(log: str) -> bool:
    return "ML backend connected" in log or "not connected to Label Studio" in log


def test_studio_stays_usable_when_the_connected_backend_goes_down(studio_server, model_dir, tmp_path):
    cfg, env, client, project = _setup(tmp_path, studio_server, f"Gone {uuid.uuid4().hex[:6]}")
    backend = start_backend(model_dir, cfg, env, tmp_path / "backend.log", "--no-learn")
    try:
        res = cli_invoker("label", env=env)("connect", "--url", backend.url, "--config", cfg)
        assert res.exit_code == 0, res.output
    finally:
        backend.stop()
    (task_id,) = _import(client, project["id"], [sentence(400, article=400)])
    started = time.monotonic()
    task = httpx.get(f"{studio_server.url}/api/tasks/{task_id}", timeout=60,
                     headers={"Authorization": f"Token {studio_server.api_key}"})
    assert task.status_code == 200 and task.json()["predictions"] == []  # opened, without a prediction
    assert time.monotonic() - started < 10
    assert len(client.tasks(project["id"])) == 1  # the Data Manager lists it too
