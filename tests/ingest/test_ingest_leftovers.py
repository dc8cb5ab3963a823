"""A killed `stance ingest` leaves its spool beside the output; the next run removes it and says so,
and never touches the spool of an ingest that is still running."""
from __future__ import annotations

import fcntl
import json
import signal
import subprocess
import time

from tests.helpers import cli_invoker, read_jsonl, stance_command, write_jsonl

stance = cli_invoker()


def _articles(n: int) -> list[dict]:
    body = ("Both sides agreed to restore dialogue and hold talks next month. The Kremlin denied the reports. "
            "Officials warned that troops were massing near the frontier. ")
    return [{"id": f"a{i}", "text": f"Report {i}\n\n{body * 3}"} for i in range(n)]


def test_spool_of_a_killed_ingest_is_removed_by_the_next_run_and_reported(tmp_path):
    src = write_jsonl(tmp_path / "feed.jsonl", _articles(20000))
    out = tmp_path / "out" / "sentences.jsonl"
    proc = subprocess.Popen(stance_command("ingest", src, "--out", out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.stat().st_size for p in out.parent.glob(".*.spool")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [spool] = list(out.parent.glob(".sentences.jsonl.*.spool"))
    assert not out.exists()

    write_jsonl(src, _articles(3))
    result = stance("ingest", src, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"removed 1 file(s) a killed ingest into sentences.jsonl had left: {spool.name}" in " ".join(result.output.split())
    assert not spool.exists() and sorted(p.name for p in out.parent.iterdir()) == ["sentences.jsonl"]
    assert {r["article_id"] for r in read_jsonl(out)} == {"a0", "a1", "a2"}


def test_spool_a_running_ingest_holds_is_left_alone(tmp_path):
    src = write_jsonl(tmp_path / "feed.jsonl", _articles(2))
    out = tmp_path / "sentences.jsonl"
    live = tmp_path / ".sentences.jsonl.running.spool"
    live.write_text(json.dumps({"partial": True}) + "\n", encoding="utf-8")
    with open(live, "rb") as held:  # this process plays the ingest still running into `out`
        fcntl.flock(held, fcntl.LOCK_EX)
        result = stance("ingest", src, "--out", out)
    assert result.exit_code == 0, result.output
    assert live.exists() and "removed" not in result.output
