"""The annotator flow the README tells, against a real Label Studio: push, push --model --next
(pre-annotated, most uncertain served first, the score column shown), overlap settings, ties
kept out of labeled.jsonl until resolved, agreement with two real annotators."""
from __future__ import annotations

import json
import uuid

import httpx
import pytest
from label_studio_sdk import LabelStudio

from labeling.studio.client import StudioClient
from labeling.studio.push import QUEUE_VIEW, UNCERTAINTY_SAMPLING
from labeling.studio.server import create_annotator
from labeling.studio.snapshot import ADJUDICATION, LABELED, latest_snapshot, read_rows
from tests.helpers import TAGS, cli_invoker
from tests.studio.helpers import choices, sentence, tiny_model, write_sentences

pytestmark = [pytest.mark.studio, pytest.mark.slow]


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "stance-baseline")


@pytest.fixture
def title():
    return f"Flow {uuid.uuid4().hex[:8]}"


@pytest.fixture
def run(studio_server, tmp_path, title):
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nannotations_dir: {tmp_path / 'ann'}\n"
                   f"server_data_dir: {tmp_path / 'nowhere'}\nannotators_per_task: 2\noverlap_share: 0.5\n")
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.api_key}
    label = cli_invoker("label", env=env)
    return lambda *args: label(*args, "--config", cfg)


@pytest.fixture
def client(studio_server):
    return StudioClient(studio_server.connection, retries=1, backoff_s=0.1)


def _flat(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


def _next_task(server, project_id: int, key: str) -> dict:
    """What Label Studio serves next to the owner of `key` ("Label All Tasks")."""
    answer = httpx.get(f"{server.url}/api/projects/{project_id}/next", headers={"Authorization": f"Token {key}"},
                       timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _annotate(server, key: str, task_id: int, *tags: str) -> None:
    LabelStudio(base_url=server.url, api_key=key).annotations.create(task_id, result=choices(*tags))


def test_readme_sequence_gives_pre_annotated_tasks_served_most_uncertain_first(
        run, client, studio_server, baseline_dir, title, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(8)])
    first = run("push", src)
    assert first.exit_code == 0, first.output
    again = run("push", src)
    assert "nothing pushed: all 8 selected sentences are in the project already; add --model" in _flat(again.output)

    res = run("push", src, "--model", baseline_dir, "--next", "4", "--strategy", "uncertainty")
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert "candidates 8 not annotated yet" in out and "predictions added to existing tasks 4" in out
    assert "lowest score (most uncertain) first" in out

    project = client.find_project(title)
    assert (project["sampling"], project["maximum_annotations"], project["overlap_cohort_percentage"]) == (
        UNCERTAINTY_SAMPLING, 2, 50)
    version = project["model_version"]
    assert version.startswith("stance-baseline ") and f"the model {version}" in project["label_config"]
    assert "Ctrl+Enter" in project["label_config"] and "Borderline rules" in project["expert_instruction"]
    tasks = client.tasks(project["id"])
    assert sum(t["overlap"] == 2 for t in tasks) == 4  # overlap_share 0.5 of 8 tasks: two annotators each
    scored = sorted((t["predictions"][0]["score"], t["id"]) for t in tasks if t["predictions"])
    assert len(scored) == 4 and all(0.5 <= s <= 1 for s, _ in scored)
    assert all(p["model_version"] == version for t in tasks for p in t["predictions"])

    # "Label All Tasks": the annotator is served the lowest score first, then the next lowest
    served = _next_task(studio_server, project["id"], studio_server.api_key)
    assert served["id"] == scored[0][1]
    _annotate(studio_server, studio_server.api_key, served["id"], "escalation")
    assert _next_task(studio_server, project["id"], studio_server.api_key)["id"] == scored[1][1]

    (view,) = [v for v in client.views(project["id"]) if v["data"]["title"] == QUEUE_VIEW]
    assert view["data"]["ordering"] == ["tasks:predictions_score"]
    assert "tasks:predictions_score" not in view["data"]["hiddenColumns"]["explore"]
    columns = httpx.get(f"{studio_server.url}/api/tasks", params={"view": view["id"], "project": project["id"]},
                        headers={"Authorization": f"Token {studio_server.api_key}"}, timeout=30).json()["tasks"]
    assert [t["id"] for t in columns][:4] == [tid for _, tid in scored]  # the tab lists them by score

    # the annotated task is no longer a candidate; a rerun says what it did or why it did nothing
    rerun = _flat(run("push", src, "--model", baseline_dir, "--next", "4", "--strategy", "uncertainty").output)
    assert "candidates 7 not annotated yet" in rerun
    assert "predictions added to existing tasks 1" in rerun


def test_tie_between_two_real_annotators_waits_in_adjudication_and_never_trains(
        run, client, studio_server, title, tmp_path):
    from training.labeled import load_labeled

    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(3)])
    assert run("push", src).exit_code == 0
    bob_key = create_annotator(studio_server.url, f"bob-{uuid.uuid4().hex[:6]}@stance.local", "bob-secret-123",
                               studio_server.api_key)
    ids = {t["data"]["sentence_id"]: t["id"] for t in client.tasks(client.find_project(title)["id"])}
    tie, agreed = ids[sentence(0)["sentence_id"]], ids[sentence(1)["sentence_id"]]
    _annotate(studio_server, studio_server.api_key, tie, "escalation")
    _annotate(studio_server, bob_key, tie)  # bob: no stance -> 1:1 on escalation
    _annotate(studio_server, studio_server.api_key, agreed, "denial")
    _annotate(studio_server, bob_key, agreed, "denial")

    res = run("pull")
    assert res.exit_code == 0, res.output
    assert "1 tied sentences are not in labeled.jsonl" in _flat(res.output)
    snap = latest_snapshot(tmp_path / "ann")
    assert [r["id"] for r in read_rows(snap, LABELED)] == [sentence(1)["sentence_id"]]
    (item,) = read_rows(snap, ADJUDICATION)
    assert (item["id"], item["reason"], item["resolved"]) == (sentence(0)["sentence_id"], "tie", False)
    rows = load_labeled(tmp_path / "ann", TAGS)  # what `stance dataset build data/annotations/` reads
    assert [r["id"] for r in rows] == [sentence(1)["sentence_id"]]

    agreement = run("agreement")
    assert agreement.exit_code == 0, agreement.output
    result = json.loads((snap / "agreement.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert result["shared_items"] == 2 and result["too_few_annotators"] is None
    assert result["alpha"]["denial"] == pytest.approx(1.0) and (snap / "agreement.png").exists()

    carol_key = create_annotator(studio_server.url, f"carol-{uuid.uuid4().hex[:6]}@stance.local",
                                 "carol-secret-123", studio_server.api_key)
    _annotate(studio_server, carol_key, tie, "escalation")  # a third vote decides it
    assert run("pull").exit_code == 0
    snap = latest_snapshot(tmp_path / "ann")
    labeled = {r["id"]: r["labels"] for r in read_rows(snap, LABELED)}
    assert labeled[sentence(0)["sentence_id"]] == ["escalation"]
    assert [a["resolved"] for a in read_rows(snap, ADJUDICATION)] == [True]


def test_agreement_on_a_one_annotator_project_explains_itself(run, studio_server, client, title, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(2)])
    assert run("push", src).exit_code == 0
    for task in client.tasks(client.find_project(title)["id"]):
        _annotate(studio_server, studio_server.api_key, task["id"], "escalation")
    assert run("pull").exit_code == 0
    res = run("agreement")
    assert res.exit_code == 0 and "only one annotator (admin@stance.local)" in _flat(res.output)
    snap = latest_snapshot(tmp_path / "ann")
    assert json.loads((snap / "agreement.json").read_text())["alpha"]["overall"] is None


def test_new_tasks_are_imported_lowest_score_first(run, client, baseline_dir, title, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(6)])
    res = run("push", src, "--model", baseline_dir, "--next", "4", "--strategy", "uncertainty")
    assert res.exit_code == 0, res.output
    tasks = sorted(client.tasks(client.find_project(title)["id"]), key=lambda t: t["id"])
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert len(tasks) == 4 and scores == sorted(scores)  # Sequential sampling would serve them in this order too
