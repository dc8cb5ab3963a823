"""`stance runs ui` (= make mlflow-ui) in a real headless Chromium: the address it prints opens
the experiment on its runs table, the headline metrics are columns, and the server is lean."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from labeling.config import PROJECT_ROOT
from tests.helpers import cli_invoker, make_rows, write_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENSHOT_DOC = PROJECT_ROOT / "docs" / "mlflow-runs.png"  # refreshed with STANCE_SCREENSHOTS=1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_processes(pgid: int) -> int:
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return len(out.split())


def test_ui_opens_on_the_runs_table_with_headline_columns(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = tmp_path / "baseline.yaml"
    config.write_text("c_grid: [1.0]\ncv_folds: 2\n", encoding="utf-8")
    labeled = write_jsonl(tmp_path / "labeled.jsonl", make_rows(80))
    result = cli_invoker()("train", "baseline", labeled, "--config", config, "--tracking-uri", store)
    assert result.exit_code == 0, result.output

    port = _free_port()
    stance = Path(sys.executable).with_name("stance")
    proc = subprocess.Popen([str(stance), "runs", "ui", "--tracking-uri", store, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "COLUMNS": "300"})
    try:
        url = None
        deadline = time.time() + 120
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if m := re.search(r"open (http://\S+)", line):
                url = m.group(1)
        assert url and "workflowType=machine_learning" in url
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(1)
        assert _group_processes(proc.pid) <= 4  # stance, mlflow, one uvicorn worker (was 16)

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 600})
                page.goto(url)
                expect(page.get_by_role("heading", name="Runs")).to_be_visible(timeout=60_000)
                page.get_by_role("button", name="Close").last.click()  # the assistant panel takes a third
                for column in ("macro_f1/val", "macro_f1/test"):
                    expect(page.get_by_text(column, exact=True).first).to_be_visible(timeout=30_000)
                expect(page.get_by_text(re.compile(r"^baseline-[0-9a-f]{6}-\d{8}-\d{4}")).first).to_be_visible()
                assert "Traces" not in page.get_by_role("heading").all_inner_texts()
                shot = SCREENSHOT_DOC if os.environ.get("STANCE_SCREENSHOTS") == "1" else tmp_path / "runs.png"
                page.screenshot(path=str(shot))
                assert shot.stat().st_size > 10_000
            finally:
                browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
