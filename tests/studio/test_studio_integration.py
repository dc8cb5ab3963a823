"""Against a real Label Studio (session fixture in conftest.py): config, push, annotate, pull."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from labeling.schema import load_schema
from labeling.studio.client import StudioClient, StudioError
from labeling.studio.config_xml import build_label_config
from labeling.studio.push import ensure_project, existing_by_group, push_groups
from labeling.studio.server import create_annotator
from labeling.studio.snapshot import ADJUDICATION, LABELED, read_rows
from labeling.studio.tasks import build_prediction, group_sentences
from tests.helpers import TAGS, cli_invoker
from tests.studio.helpers import choices, sentence, write_sentences

pytestmark = [pytest.mark.studio, pytest.mark.slow]


@pytest.fixture
def title():
    return f"Test {uuid.uuid4().hex[:8]}"


@pytest.fixture
def run(studio_server, tmp_path, title):
    """Invoke `stance label ...` against the session server with a per-test project and folders."""
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nbatch_size: 2\nretries: 1\nretry_backoff_s: 0.1\n"
                   f"annotations_dir: {tmp_path / 'ann'}\nserver_data_dir: {tmp_path / 'nowhere'}\n")
    label = cli_invoker("label")
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.api_key}

    def invoke(*args, key=None):
        return label(*args, "--config", cfg, env=dict(env, LABEL_STUDIO_API_KEY=key or env["LABEL_STUDIO_API_KEY"]))
    return invoke


@pytest.fixture
def client(studio_server):
    return StudioClient(studio_server.connection, retries=1, backoff_s=0.1)


def _groups(n):
    return group_sentences([(f"t:{i}", sentence(i)) for i in range(n)])[0]


def test_generated_config_validates_in_the_real_server(client, title):
    xml = build_label_config(load_schema())
    project, created, updated = ensure_project(client, title, xml)
    assert created and not updated
    client.validate_label_config(project["id"], xml)  # the server's own validation endpoint
    with pytest.raises(StudioError, match="could not validate the labeling config: HTTP 400"):
        client.validate_label_config(project["id"], '<View><Choices name="x" toName="missing"/></View>')


def test_push_twice_creates_no_duplicate_tasks(run, client, title, tmp_path):
    records = [sentence(0), sentence(1, group=0, article=2), sentence(2), sentence(3), sentence(4),
               sentence(5, for_labeling=False)]
    src = write_sentences(tmp_path / "s.jsonl", records)
    first = run("push", src)
    assert first.exit_code == 0, first.output
    second = run("push", src)
    assert second.exit_code == 0, second.output
    project = client.find_project(title)
    tasks = client.tasks(project["id"])
    sids = sorted(t["data"]["sentence_id"] for t in tasks)
    assert sids == sorted(sentence(i)["sentence_id"] for i in (0, 2, 3, 4))  # one task per group
    assert "already in project" in second.output and "│ 4" in second.output.split("already in project")[1][:40]


def test_push_updates_the_config_when_the_schema_changed(run, client, title, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(0)])
    assert run("push", src).exit_code == 0
    schema = tmp_path / "labels.yaml"
    text = (load_schema.__globals__["DEFAULT_SCHEMA_PATH"]).read_text()
    schema.write_text(text.replace('hotkey: "4"', 'hotkey: "9"'))
    res = run("push", src, "--schema", schema)
    assert res.exit_code == 0 and "config updated" in res.output
    assert 'hotkey="9"' in client.find_project(title)["label_config"]
    assert len(client.tasks(client.find_project(title)["id"])) == 1


def test_interrupted_push_then_rerun_completes_without_duplicates(client, title):
    project, _, _ = ensure_project(client, title, build_label_config(load_schema()))
    groups = _groups(5)

    def die_after_first_batch(done, total):
        raise KeyboardInterrupt("killed after batch 1")

    with pytest.raises(KeyboardInterrupt):
        push_groups(client, project["id"], groups, {}, batch_size=2, on_batch=die_after_first_batch)
    assert len(client.tasks(project["id"])) == 2
    existing = existing_by_group(client.tasks(project["id"]))
    report = push_groups(client, project["id"], groups, existing, batch_size=2)
    assert (report.already_present, report.imported) == (2, 3)
    tasks = client.tasks(project["id"])
    assert sorted(t["data"]["group_id"] for t in tasks) == sorted(g.group_id for g in groups)


def test_pre_annotations_carry_model_version_and_score(client, title):
    project, _, _ = ensure_project(client, title, build_label_config(load_schema()))
    groups = _groups(2)
    thresholds = {t: 0.5 for t in TAGS}
    probs = {"escalation": 0.9, "de-escalation": 0.1, "accusation": 0.3, "denial": 0.2}
    v1 = {g.sentence_id: build_prediction(probs, thresholds, "stance:1") for g in groups}
    push_groups(client, project["id"], groups, {}, v1)
    v2 = {g.sentence_id: build_prediction(probs, thresholds, "stance:2") for g in groups}
    report = push_groups(client, project["id"], groups, existing_by_group(client.tasks(project["id"])), v2)
    assert report.predictions_added == 2 and report.imported == 0
    for task in client.tasks(project["id"]):
        preds = sorted(task["predictions"], key=lambda p: p["model_version"])
        assert [p["model_version"] for p in preds] == ["stance:1", "stance:2"]
        assert preds[0]["score"] == pytest.approx(0.7)  # least sure tag: accusation, 0.5 + (0.5-0.3)/0.5 / 2
        assert preds[0]["result"][0]["value"]["choices"] == ["escalation"]


def _annotate(url, key, task_id, tags=(), cancelled=False):
    LabelStudio(base_url=url, api_key=key).annotations.create(
        task_id, result=[] if cancelled else choices(*tags), was_cancelled=cancelled)


def test_two_annotators_pull_gives_majority_adjudication_and_agreement(run, studio_server, client, title, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(5)])
    assert run("push", src).exit_code == 0
    bob = f"bob-{uuid.uuid4().hex[:6]}@stance.local"
    bob_key = create_annotator(studio_server.url, bob, "bob-secret-123", studio_server.api_key)
    tasks = {t["data"]["sentence_id"]: t["id"] for t in client.tasks(client.find_project(title)["id"])}
    task = [tasks[sentence(i)["sentence_id"]] for i in range(5)]
    url, admin = studio_server.url, studio_server.api_key
    for tid, tags in zip(task, [["escalation"], ["escalation"], [], [], ["denial"]]):
        _annotate(url, admin, tid, tags)
    for tid, tags in zip(task[:4], [["escalation"], [], [], []]):
        _annotate(url, bob_key, tid, tags)
    _annotate(url, bob_key, task[4], cancelled=True)

    res = run("pull", "--review")
    assert res.exit_code == 0, res.output
    assert "review batch: 1 tasks" in res.output
    snap = next(p for p in (tmp_path / "ann").iterdir() if not p.name.startswith("."))
    rows = {r["id"]: r for r in read_rows(snap, LABELED)}
    assert sentence(1)["sentence_id"] not in rows  # the tie waits in adjudication.jsonl, never "no stance"
    assert [rows[sentence(i)["sentence_id"]]["labels"] for i in (0, 2, 3, 4)] == [["escalation"], [], [], ["denial"]]
    assert rows[sentence(0)["sentence_id"]]["annotators"] == sorted(["admin@stance.local", bob])
    adjudication = read_rows(snap, ADJUDICATION)
    assert [(a["id"], a["reason"]) for a in adjudication] == [(sentence(1)["sentence_id"], "tie")]
    summary = json.loads((snap / "summary.json").read_text())
    assert summary["counts"]["cancelled"] == 1 and studio_server.api_key not in (snap / "summary.json").read_text()

    res = run("agreement", snap)
    assert res.exit_code == 0, res.output
    result = json.loads((snap / "agreement.json").read_text())
    assert result["alpha"]["escalation"] == pytest.approx(8 / 15)   # hand-computed in test_agreement.py
    assert result["alpha"]["overall"] == pytest.approx(56 / 87)
    assert result["kappa"][0]["kappa"] == pytest.approx(7 / 11) and result["kappa"][0]["shared"] == 4
    assert result["items"] == {"admin@stance.local": 5, bob: 4}
    assert (snap / "agreement.png").stat().st_size > 5000

    again = run("pull")
    assert again.exit_code == 0 and "no changes since snapshot" in again.output


def test_wrong_token_is_reported_without_the_token(run, tmp_path):
    wrong = "0123456789abcdef0123456789abcdef01234567"
    res = run("pull", key=wrong)
    assert res.exit_code == 1 and "rejected the API key" in res.output and wrong not in res.output
    assert not (tmp_path / "ann").exists()


def test_push_killed_half_way_then_rerun_completes(studio_server, client, title, tmp_path):
    n = 120
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(n)])
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nbatch_size: 1\nserver_data_dir: {tmp_path / 'nowhere'}\n")
    cmd = [str(Path(sys.executable).parent / "stance"), "label", "push", str(src), "--config", str(cfg)]
    env = dict(os.environ, LABEL_STUDIO_URL=studio_server.url, LABEL_STUDIO_API_KEY=studio_server.api_key)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, done = time.monotonic() + 120, 0
        while time.monotonic() < deadline and done < 5:
            project = client.find_project(title)
            done = len(client.tasks(project["id"], full=False)) if project else 0
            time.sleep(0.05)
        proc.kill()
    finally:
        proc.wait(timeout=30)
    killed_at = len(client.tasks(client.find_project(title)["id"], full=False))
    assert 5 <= killed_at < n, "the push was not interrupted half-way"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    tasks = client.tasks(client.find_project(title)["id"], full=False)
    assert sorted(t["data"]["group_id"] for t in tasks) == sorted(sentence(i)["group_id"] for i in range(n))
