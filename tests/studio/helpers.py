"""Tiny inline data for the Label Studio tests (no shared data is read)."""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from labeling.config import PROJECT_ROOT
from labeling.studio.server import LOG_FILE, StudioServer, free_port, start_server
from tests.helpers import write_jsonl

TEMPLATE = PROJECT_ROOT / ".venv-studio" / "stance-test-template"

TEXTS = [
    "Moscow warned that it would deploy missiles near the border.",
    "The two sides agreed to resume talks next month.",
    "The ministry accused its neighbour of violating the ceasefire.",
    "The Kremlin denied reports of troop movements.",
    "The meeting took place in Stockholm.",
    "Officials said new sanctions would follow.",
]


def sentence(i: int, group: int | None = None, article: int = 1, for_labeling: bool = True, **extra) -> dict:
    """One sentence record as `stance ingest` writes it."""
    rec = {
        "sentence_id": f"s-{i:016x}", "article_id": f"a-{article:016x}", "index": i,
        "text": TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else f" ({i})"),
        "start": 0, "end": 10, "prev_text": None if i == 0 else f"Previous sentence {i}.",
        "next_text": f"Next sentence {i}.", "kind": "body", "lang": "en", "for_labeling": for_labeling,
        "group_id": f"g-{(i if group is None else group):016x}", "title": f"Article {article}",
        "source": "Example Wire", "url": f"https://example.org/{article}", "date": "2024-03-01",
        "source_path": f"raw/{article}.html",
    }
    rec.update(extra)
    return rec


def write_sentences(path: Path, records: list[dict]) -> Path:
    """Sentence records as `stance ingest` writes them, one JSON object a line."""
    return write_jsonl(path, records)


def choices(*tags: str) -> list[dict]:
    """An annotation/prediction result choosing `tags`."""
    return [{"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": list(tags)}}]


def export_task(task_id: int, sid: str, annotations: list[dict], text: str = "A sentence.") -> dict:
    """One task of a Label Studio JSON export."""
    return {"id": task_id, "data": {"text": text, "sentence_id": sid, "group_id": f"g-{sid}",
                                    "article_id": "a-1"}, "annotations": annotations}


def ann(ann_id: int, user: int, *tags: str, cancelled: bool = False, ground_truth: bool = False) -> dict:
    return {"id": ann_id, "completed_by": user, "result": [] if cancelled else choices(*tags),
            "was_cancelled": cancelled, "ground_truth": ground_truth}


def migrated_template() -> Path:
    """A migrated Label Studio data directory with an admin, built once and reused
    (Label Studio's first start spends about two minutes on migrations); locked against parallel runs."""
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with open(TEMPLATE.parent / "stance-test-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TEMPLATE / "ready").exists():
            shutil.rmtree(TEMPLATE, ignore_errors=True)
            start_server(TEMPLATE, timeout_s=600).stop()
            (TEMPLATE / "ready").touch()
    return TEMPLATE


def fresh_server(data_dir: Path) -> StudioServer:
    """Start a real Label Studio on a free loopback port from a copy of the migrated template."""
    shutil.copytree(migrated_template(), data_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(LOG_FILE, "ready", "*.lock"))
    return start_server(data_dir, timeout_s=300)


# --- a tiny real model and a real ML backend process (test_backend*.py) ---------------------

TRAIN = [
    ("Moscow threatened to deploy missiles near the border.", ["escalation"]),
    ("The army massed troops and warned of strikes.", ["escalation"]),
    ("Both sides agreed to a ceasefire and new talks.", ["de-escalation"]),
    ("The ministers proposed dialogue to lower tension.", ["de-escalation"]),
    ("He accused the alliance of violating the treaty.", ["accusation"]),
    ("Officials blamed Kyiv for irresponsible attacks.", ["accusation", "escalation"]),
    ("The Kremlin denied the reports as baseless.", ["denial"]),
    ("The spokesman rejected the allegation outright.", ["denial"]),
    ("The meeting took place in Stockholm.", []),
    ("The weather was mild on Tuesday.", []),
]
# small enough to train in about a second, for tests only
TINY_BASELINE = {"c_grid": [1.0], "max_word_features": 2000, "char_buckets": 2 ** 12, "char_ngrams": (3, 5)}


def tiny_model(out: Path) -> Path:
    """A real baseline model directory at `out` (named by its folder), trained on TRAIN."""
    from tests.helpers import train_tiny_baseline

    rows = [{"text": t, "labels": l, "group_id": f"g-{i}", "article_id": f"a-{i}"} for i, (t, l) in enumerate(TRAIN * 2)]
    return train_tiny_baseline(rows[:14], rows[14:], out, **TINY_BASELINE)


@dataclass
class BackendProcess:
    """A `stance label serve` process started by a test; `stop()` ends it."""

    url: str
    secret: str = field(repr=False)
    process: subprocess.Popen = field(repr=False)
    log: Path

    def auth(self) -> dict[str, str]:
        from training.studio_backend.app import basic_auth_header

        return {"Authorization": basic_auth_header(self.secret)}

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn and the learner end cleanly
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_backend(model: Path | str, studio_cfg: Path, env: dict[str, str], log: Path, *extra: str,
                  timeout_s: float = 300.0) -> BackendProcess:
    """Start `stance label serve --model MODEL` on a free loopback port and wait for /health.

    The secret is the one serve creates in studio_cfg's server_data_dir (read back here)."""
    import yaml

    from training.studio_backend.app import SECRET_FILE

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stance = Path(sys.executable).with_name("stance")
    with open(log, "wb") as fh:
        # unbuffered: the log shows what it did so far when a test fails
        proc = subprocess.Popen([str(stance), "label", "serve", "--model", str(model), "--port", str(port),
                                 "--config", str(studio_cfg), *extra], cwd=PROJECT_ROOT,
                                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stance label serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                data_dir = Path(yaml.safe_load(studio_cfg.read_text())["server_data_dir"])
                return BackendProcess(url, (data_dir / SECRET_FILE).read_text().strip(), proc, log)
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"stance label serve did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


# --- the browser (Debian's Chromium, driven by Playwright) ---------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def log_in(page, server) -> None:
    """Log the Playwright `page` in to `server` as its admin."""
    page.goto(f"{server.url}/user/login/")
    page.fill("input[name=email]", server.username)
    page.fill("input[name=password]", server.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
