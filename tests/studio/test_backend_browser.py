"""A real headless Chromium opens a task of a project connected to a real `stance label serve`:
the model's choices are ticked when the task opens (fetched live from the backend), and the
annotator submits them."""
from __future__ import annotations

import re
import uuid

import pytest
import yaml

from labeling.schema import load_schema
from labeling.studio.client import StudioClient
from labeling.studio.config_xml import build_label_config
from labeling.studio.tasks import build_task, group_sentences
from tests.helpers import cli_invoker
from tests.studio.helpers import CHROMIUM, FLAGS, log_in, sentence, start_backend, tiny_model
from training.studio_backend.serving import load_serving

pytestmark = [pytest.mark.browser, pytest.mark.studio, pytest.mark.slow]


def test_opened_task_shows_the_backend_choices_ticked_and_submits_them(studio_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    tags = load_schema().names
    model = tiny_model(tmp_path / "stance-baseline")
    title = f"Live {uuid.uuid4().hex[:6]}"
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(yaml.safe_dump({"project_title": title, "server_data_dir": str(tmp_path / "ls-data"),
                                   "url": studio_server.url}))
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.api_key}
    client = StudioClient(studio_server.connection)
    project = client.create_project(title, build_label_config(load_schema()))
    target = sentence(1, text="Moscow threatened to deploy missiles near the border and warned of strikes.")
    served = load_serving(str(model), tags)
    (expected,) = served.predictions([target["text"]])
    ticked = expected["result"][0]["value"]["choices"] if expected["result"] else []
    assert ticked, "the tiny model should tick something for this sentence"

    backend = start_backend(model, cfg, env, tmp_path / "backend.log", "--no-learn")
    try:
        res = cli_invoker("label", env=env)("connect", "--url", backend.url, "--config", cfg)
        assert res.exit_code == 0, res.output
        # imported after connect, without a prediction: Label Studio asks the backend when it is shown
        groups, _ = group_sentences([("1", target)])
        (task_id,) = client.import_tasks(project["id"], [build_task(groups[0])])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 820})
                log_in(page, studio_server)
                page.goto(f"{studio_server.url}/projects/{project['id']}/data?task={task_id}")
                for tag in tags:
                    box = page.get_by_role("checkbox", name=re.compile(rf"^{re.escape(tag)}\b"))
                    expect(box).to_be_visible(timeout=60_000)
                    if tag in ticked:
                        expect(box).to_be_checked()
                    else:
                        expect(box).not_to_be_checked()
                with page.expect_response(lambda r: "/annotations" in r.url and r.request.method == "POST") as resp:
                    page.get_by_role("button", name="Submit").click()
                assert resp.value.ok
            finally:
                browser.close()
    finally:
        backend.stop()

    (task,) = [t for t in client.tasks(project["id"]) if t["id"] == task_id]
    # the Data Manager's listing and the opened task may both ask (Label Studio does not lock): the
    # same prediction then appears twice; every one is the served model's
    assert {p["model_version"] for p in task["predictions"]} == {served.model_version}
    (annotation,) = task["annotations"]
    assert annotation["result"][0]["value"]["choices"] == ticked
    assert "POST /predict" in backend.log.read_text()
