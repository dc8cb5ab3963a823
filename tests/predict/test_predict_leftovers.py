"""`stance predict` leaves no `.NAME.lock` file beside its output: not after a run, and not after
a run killed while holding the lock (the next run takes that one over and removes it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.helpers import cli_invoker, labeled_rows, read_jsonl, write_jsonl

stance = cli_invoker()

_HOLD_LOCK = """
import signal, sys
from training.predict.output import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    signal.pause()
"""


def _records(n: int) -> list[dict]:
    return [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(labeled_rows()[:n])]


def test_a_finished_run_leaves_no_lock_file(tmp_path, baseline_dir):
    src = write_jsonl(tmp_path / "in.jsonl", _records(4))
    out = tmp_path / "out" / "scored.jsonl"
    result = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["scored.jsonl"]


def test_the_lock_file_of_a_killed_run_is_taken_over_and_removed(tmp_path, baseline_dir):
    src = write_jsonl(tmp_path / "in.jsonl", _records(4))
    out = tmp_path / "out" / "scored.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert holder.stdout.readline().strip() == "locked"
    busy = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out, "--workers", "1")
    assert busy.exit_code == 2 and f"pid {holder.pid}" in " ".join(busy.output.split())
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = out.parent / ".scored.jsonl.lock"
    assert lock.exists()  # a killed process runs no cleanup: the kernel only drops its lock

    free = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out, "--workers", "1")
    assert free.exit_code == 0, free.output
    assert not lock.exists() and len(read_jsonl(out)) == 4
