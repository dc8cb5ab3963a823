"""`stance predict` keeps every good row beside one bad spot and names every input it cannot read:
a bad byte in a `--sentences` CSV, a corrupt Parquet row group, an unreadable subfolder, a FIFO."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers import (cli_invoker, labeled_rows, read_jsonl, stance_command, without_root_privileges,
                           write_corrupt_parquet, write_jsonl)

stance = cli_invoker()


def _records(n: int, prefix: str = "r") -> list[dict]:
    rows = labeled_rows()
    return [{"id": f"{prefix}{i}", "text": rows[i % len(rows)]["text"]} for i in range(n)]


def test_sentences_csv_with_a_bad_byte_on_line_3_keeps_the_other_rows_and_reports_line_3(tmp_path, baseline_dir):
    src = tmp_path / "eval.csv"
    src.write_bytes(b"id,text\n"
                    b"r1,The Kremlin denied the reports as baseless.\n"
                    b"r2,Caf\xe9 owners accused the council.\n"
                    b"r3,\"The ministers signed a ceasefire agreement, in Geneva.\"\n"
                    b"r4,Reporters gathered outside the building.\n")
    out, errors = tmp_path / "scored.jsonl", tmp_path / "errors.jsonl"
    result = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out, "--errors", errors)
    assert result.exit_code == 1, result.output
    assert [r["sentence_id"] for r in read_jsonl(out)] == ["r1", "r3", "r4"]
    [error] = read_jsonl(errors)
    assert (Path(error["source"]).name, error["line"]) == ("eval.csv", 3)
    assert error["error"].startswith("not valid UTF-8")


def test_sentences_parquet_with_one_corrupt_row_group_scores_the_readable_row_groups(tmp_path, baseline_dir):
    src = write_corrupt_parquet(tmp_path / "eval.parquet", _records(30), row_group_size=10, bad_group=1)
    out, errors = tmp_path / "scored.parquet", tmp_path / "errors.jsonl"
    result = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out, "--errors", errors)
    assert result.exit_code == 1, result.output
    ids = pq.read_table(out, columns=["sentence_id"]).column("sentence_id").to_pylist()
    assert ids == [f"r{i}" for i in [*range(10), *range(20, 30)]]
    [error] = read_jsonl(errors)
    assert error["line"] == 11 and error["error"].startswith("corrupt Parquet row group 2 of 3: rows 11-20 skipped")


def test_unreadable_subfolder_is_an_error_naming_it_and_the_rest_is_scored(tmp_path, baseline_dir):
    root = tmp_path / "in"
    (root / "locked").mkdir(parents=True)
    write_jsonl(root / "a.jsonl", _records(3))
    write_jsonl(root / "locked" / "b.jsonl", _records(3, "b"))
    (root / "locked").chmod(0)
    out, errors = tmp_path / "scored.jsonl", tmp_path / "errors.jsonl"
    try:
        done = subprocess.run(without_root_privileges(stance_command(
            "predict", root, "--sentences", "--model", baseline_dir, "--out", out, "--errors", errors, "--workers", "1")),
            capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    finally:
        (root / "locked").chmod(0o755)
    assert done.returncode == 1, done.stderr
    [error] = read_jsonl(errors)
    assert error["source"] == str(root / "locked") and error["error"].startswith("cannot read folder: Permission denied")
    assert [r["sentence_id"] for r in read_jsonl(out)] == ["r0", "r1", "r2"]


def test_fifo_input_is_skipped_and_named_instead_of_waited_for(tmp_path, baseline_dir):
    write_jsonl(tmp_path / "a.jsonl", _records(3))
    os.mkfifo(tmp_path / "pipe.jsonl")
    pq.write_table(pa.Table.from_pylist(_records(2, "p")), tmp_path / "b.parquet")
    out, errors = tmp_path / "scored.jsonl", tmp_path / "errors.jsonl"
    # Before, reading (or even counting the lines of) the FIFO blocked the run forever.
    inputs = [tmp_path / "a.jsonl", tmp_path / "pipe.jsonl", tmp_path / "b.parquet"]
    done = subprocess.run(stance_command("predict", *inputs, "--sentences", "--model", baseline_dir, "--out", out,
                                         "--errors", errors, "--workers", "1"),
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1, done.stderr
    [error] = read_jsonl(errors)
    assert Path(error["source"]).name == "pipe.jsonl" and error["error"] == "not a regular file (a FIFO); skipped"
    assert [r["sentence_id"] for r in read_jsonl(out)] == ["r0", "r1", "r2", "p0", "p1"]
