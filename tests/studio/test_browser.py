"""A real headless Chromium (Debian's, driven by Playwright) labels one task in the real server."""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from labeling.config import PROJECT_ROOT
from labeling.schema import load_schema
from labeling.studio.client import StudioClient
from labeling.studio.push import QUEUE_VIEW
from labeling.studio.snapshot import LABELED, read_rows
from tests.helpers import cli_invoker
from tests.studio.helpers import CHROMIUM, FLAGS, log_in, sentence, tiny_model, write_sentences

pytestmark = [pytest.mark.browser, pytest.mark.studio, pytest.mark.slow]

# the README's screenshot is refreshed only on request (STANCE_SCREENSHOTS=1): tests must not
# rewrite tracked files on every run
SCREENSHOT_DOC = PROJECT_ROOT / "docs" / "labeling-view.png"


def _cli(server, cfg: Path):
    env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.api_key}
    label = cli_invoker("label", env=env)
    return lambda *args: label(*args, "--config", cfg)


def _push_one(server, cli, tmp_path: Path, row: dict, title: str) -> str:
    """Push one sentence as a task of project `title`; return the task's labeling-view URL."""
    res = cli("push", write_sentences(tmp_path / "s.jsonl", [row]))
    assert res.exit_code == 0, res.output
    client = StudioClient(server.connection)
    project = client.find_project(title)
    task_id = client.tasks(project["id"])[0]["id"]
    return f"{server.url}/projects/{project['id']}/data?task={task_id}"


def test_annotator_labels_with_hotkey_and_next_pull_has_it(studio_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    title = f"Browser {uuid.uuid4().hex[:6]}"
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nannotations_dir: {tmp_path / 'ann'}\n"
                   f"server_data_dir: {tmp_path / 'nowhere'}\n")
    cli = _cli(studio_server, cfg)
    target = sentence(
        1, title="Kremlin warns of response to new missile deployments",
        prev_text="The foreign ministry summoned the ambassador on Tuesday.",
        text="Moscow warned it would deploy missiles near the border if the plan went ahead.",
        next_text="Officials in Brussels said talks would continue next week.")
    task_url = _push_one(studio_server, cli, tmp_path, target, title)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            log_in(page, studio_server)
            page.goto(task_url)
            for tag in load_schema().tags:  # the choice label reads e.g. "escalation[1]"
                label = page.get_by_text(re.compile(rf"^{re.escape(tag.name)}\s*\[?{tag.hotkey}\]?$"))
                expect(label.first).to_be_visible(timeout=60_000)
            for text in (target["text"], target["prev_text"], target["next_text"], target["title"]):
                expect(page.get_by_text(text, exact=True).first).to_be_visible()
            page.locator("body").click(position={"x": 640, "y": 5})  # focus the page, not an input
            page.keyboard.press("1")
            expect(page.get_by_role("checkbox", name=re.compile(r"^escalation"))).to_be_checked()
            shot = tmp_path / "labeling-view.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            with page.expect_response(lambda r: "/annotations" in r.url and r.request.method == "POST") as resp:
                page.get_by_role("button", name="Submit").click()
            assert resp.value.ok
        finally:
            browser.close()

    res = cli("pull")
    assert res.exit_code == 0, res.output
    snap = next(p for p in (tmp_path / "ann").iterdir() if not p.name.startswith("."))
    rows = read_rows(snap, LABELED)
    assert [(r["id"], r["labels"], r["annotators"]) for r in rows] == [
        (target["sentence_id"], ["escalation"], [studio_server.username])]


# Untrusted sentences reach the labeling view as text (issue 11, item 9): each payload would set
# window.__xss if Label Studio rendered it as markup.
PAYLOADS = {
    "text": 'Officials said <script>window.__xss = "script"</script> the talks failed.',
    "prev_text": 'The minister wrote <img src=x onerror="window.__xss = \'img\'"> on Tuesday.',
    "next_text": 'Crowds chanted <svg onload="window.__xss = \'svg\'"></svg> outside.',
    "title": 'Talks <b onmouseover="window.__xss = 1">collapse</b> <script>window.__xss = "title"</script>',
}


def test_markup_in_task_text_reaches_the_labeling_view_as_inert_text(studio_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    title = f"Inert {uuid.uuid4().hex[:6]}"
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nserver_data_dir: {tmp_path / 'nowhere'}\n")
    task_url = _push_one(studio_server, _cli(studio_server, cfg), tmp_path, sentence(1, **PAYLOADS), title)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            log_in(page, studio_server)
            page.goto(task_url)
            for field in ("text", "prev_text", "next_text", "title"):  # shown literally, tags and all
                expect(page.get_by_text(PAYLOADS[field], exact=True).first).to_be_visible(timeout=60_000)
            page.mouse.move(640, 200)
            page.wait_for_timeout(1000)  # an image error or an onload handler would have fired by now
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("img[src=x], svg[onload], [onmouseover]").count() == 0
            assert dialogs == []
            # the control: the same payload, put in as markup, does run (the check above can fail)
            page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", PAYLOADS["prev_text"])
            page.wait_for_function("window.__xss === 'img'", timeout=10_000)
        finally:
            browser.close()


def test_pre_annotated_task_shows_the_models_ticks_and_name_and_ctrl_enter_submits(studio_server, tmp_path):
    """push --model: the labeling view opens with the model's choices ticked, names the model
    (the project's model version), and Ctrl+Enter submits them."""
    from playwright.sync_api import expect, sync_playwright

    model = tiny_model(tmp_path / "stance-baseline")
    title = f"Model {uuid.uuid4().hex[:6]}"
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nannotations_dir: {tmp_path / 'ann'}\n"
                   f"server_data_dir: {tmp_path / 'nowhere'}\n")
    cli = _cli(studio_server, cfg)
    row = sentence(0, text="Moscow threatened to deploy missiles and warned of strikes near the border.")
    res = cli("push", write_sentences(tmp_path / "s.jsonl", [row]), "--model", model)
    assert res.exit_code == 0, res.output
    client = StudioClient(studio_server.connection)
    project = client.find_project(title)
    (task,) = client.tasks(project["id"])
    (pred,) = task["predictions"]
    ticked = pred["result"][0]["value"]["choices"] if pred["result"] else []
    assert ticked, "the tiny model should tick a tag on this sentence"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            log_in(page, studio_server)
            # the Data Manager opens on the queue tab, the score column shown (Label Studio hides it by default)
            page.goto(f"{studio_server.url}/projects/{project['id']}/data")
            expect(page.get_by_text(QUEUE_VIEW, exact=True).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Prediction score", exact=True).first).to_be_visible()
            page.goto(f"{studio_server.url}/projects/{project['id']}/data?task={task['id']}")
            expect(page.get_by_text(f"Pre-ticked tags come from the model {pred['model_version']}", exact=False)
                   .first).to_be_visible(timeout=60_000)
            for tag in load_schema().names:
                box = page.get_by_role("checkbox", name=re.compile(rf"^{re.escape(tag)}"))
                (expect(box).to_be_checked if tag in ticked else expect(box).not_to_be_checked)()
            # the README's screenshot: a pre-annotated task (refreshed only with STANCE_SCREENSHOTS=1)
            shot = SCREENSHOT_DOC if os.environ.get("STANCE_SCREENSHOTS") == "1" else tmp_path / "labeling-view.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            page.locator("body").click(position={"x": 640, "y": 5})
            with page.expect_response(lambda r: "/annotations" in r.url and r.request.method == "POST") as resp:
                page.keyboard.press("Control+Enter")
            assert resp.value.ok
        finally:
            browser.close()
    assert cli("pull").exit_code == 0
    snap = next(p for p in (tmp_path / "ann").iterdir() if not p.name.startswith("."))
    assert [r["labels"] for r in read_rows(snap, LABELED)] == [ticked]
