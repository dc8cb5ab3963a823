"""`stance predict` end to end: exit codes, messages, errors file, resume after a killed run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.helpers import TAGS, cli_invoker, labeled_rows, read_jsonl, train_tiny_baseline, write_jsonl
from training.predict.output import OutputBusyError, output_lock, partial_dir

stance = cli_invoker()


def _records(n: int) -> list[dict]:
    rows = labeled_rows()
    return [{"id": f"r{i:05d}", "text": rows[i % len(rows)]["text"]} for i in range(n)]


def test_cli_scores_sentences_lists_failures_and_exits_1(tmp_path, baseline_dir):
    src = write_jsonl(tmp_path / "eval.jsonl", _records(5) + ['{"id": "broken"'])
    out = tmp_path / "scored.csv"
    result = stance("predict", str(src), "--sentences", "--model", str(baseline_dir), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "eval.jsonl:6: malformed JSON" in " ".join(result.output.split())
    assert "sentences: 5" in result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 6  # header + 5 rows
    assert [e["line"] for e in read_jsonl(tmp_path / "scored.csv.errors.jsonl")] == [6]


def test_cli_clean_run_exits_0_and_writes_summary(tmp_path, baseline_dir):
    src = tmp_path / "article.txt"
    src.write_text("Talks\n\nBoth sides agreed to restore dialogue and hold talks next month. "
                   "The Kremlin denied the reports as baseless.\n", encoding="utf-8")
    result = stance("predict", str(src), "--model", str(baseline_dir), "--out", str(tmp_path / "o.jsonl"),
                                      "--summary", str(tmp_path / "s.jsonl"))
    assert result.exit_code == 0, result.output
    assert "articles: 1" in result.output
    assert read_jsonl(tmp_path / "s.jsonl")[0]["sentences"] == len(read_jsonl(tmp_path / "o.jsonl"))


def test_cli_model_uri_that_does_not_resolve_fails_before_any_work(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    out = tmp_path / "out.jsonl"
    result = stance("predict", str(src), "--sentences", "--model", str(tmp_path / "nowhere"), "--out", str(out))
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "cannot load model" in message and "does not resolve" in message
    assert "Traceback" not in result.output
    assert not out.exists() and not partial_dir(out).exists()


def test_cli_unsupported_output_extension_is_a_clear_error(tmp_path, baseline_dir):
    result = stance("predict", str(tmp_path), "--model", str(baseline_dir), "--out", str(tmp_path / "o.xlsx"))
    assert result.exit_code == 2 and "unsupported output extension" in " ".join(result.output.split())


def _stance(*args: str) -> list[str]:
    return [sys.executable, "-c", "from training.cli import main; main()", *args]


@pytest.mark.slow
def test_killed_run_resumes_without_rescoring_or_duplicates_and_checks_tags(tmp_path, baseline_dir):
    src = write_jsonl(tmp_path / "in.jsonl", _records(20000))
    out = tmp_path / "out.parquet"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [str(src), "--sentences", "--model", str(baseline_dir), "--batch-size", "50", "--workers", "1"]
    proc = subprocess.Popen(_stance("predict", *args, "--out", str(out)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = partial_dir(out) / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if manifest.exists() and json.loads(manifest.read_text())["parts"] >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(manifest.read_text())["rows_done"]
    assert not out.exists() and 0 < done < 20000

    other = train_tiny_baseline(labeled_rows()[:40], labeled_rows()[40:], tmp_path / "other", tags=TAGS[::-1])
    wrong = subprocess.run(_stance("predict", *args[:3], str(other), "--out", str(out), "--resume"), env=env,
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and "has tags" in " ".join(wrong.stderr.split())
    assert json.loads(manifest.read_text())["rows_done"] == done

    resumed = subprocess.run(_stance("predict", *args, "--out", str(out), "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} sentences already scored" in " ".join(resumed.stderr.split())
    ids = pq.read_table(out, columns=["sentence_id"]).column("sentence_id").to_pylist()
    assert ids == [f"r{i:05d}" for i in range(20000)]


def test_second_run_on_a_busy_output_fails_fast_and_touches_nothing(tmp_path, baseline_dir):
    src = write_jsonl(tmp_path / "in.jsonl", _records(30))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = _stance("predict", str(src), "--sentences", "--model", str(baseline_dir), "--out", str(out), "--workers", "1")
    with output_lock(out):  # this process plays the run in progress
        busy = subprocess.run(args, env=env, capture_output=True, text=True)
    assert busy.returncode == 2
    assert f"another `stance predict` (pid {os.getpid()}) is writing this output" in " ".join(busy.stderr.split())
    assert not out.exists() and not partial_dir(out).exists()
    free = subprocess.run(args, env=env, capture_output=True, text=True)
    assert free.returncode == 0, free.stderr
    assert len(read_jsonl(out)) == 30


def test_output_lock_is_exclusive_and_released(tmp_path):
    out = tmp_path / "o.parquet"
    with output_lock(out):
        with pytest.raises(OutputBusyError, match="o.parquet"):
            with output_lock(out):
                pass
    with output_lock(out):  # released when the first run ended
        pass
