"""`stance ingest` keeps every good row beside one bad spot, and names every input it cannot read:
a Latin-1 CSV, a bad byte in a UTF-8 CSV, a corrupt Parquet row group, an unreadable subfolder,
broken and looping symbolic links, a FIFO."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from labeling.ingest.readers import Article, ReadError, ReadOptions, iter_articles
from tests.helpers import cli_invoker, read_jsonl, stance_command, without_root_privileges, write_corrupt_parquet

stance = cli_invoker()

ARTICLE = "Talks\n\nBoth sides agreed to restore dialogue and hold talks next month.\n"


def _read(inputs, **options):
    items = list(iter_articles([str(p) for p in inputs], ReadOptions(**options)))
    return [i for i in items if isinstance(i, Article)], [e for e in items if isinstance(e, ReadError)]


def _errors(path: Path) -> dict[str, dict]:
    return {Path(e["path"]).name: e for e in read_jsonl(path)}


def test_latin1_csv_is_read_with_its_accents_instead_of_being_lost(tmp_path):
    src = tmp_path / "feed.csv"
    src.write_bytes("id,text\n"
                    "a1,\"Le ministre a annoncé une trêve à Genève.\"\n"
                    "a2,\"Les négociations reprendront à Paris la semaine prochaine.\"\n".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    result = stance("ingest", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    texts = [r["text"] for r in read_jsonl(out)]
    assert "Le ministre a annoncé une trêve à Genève." in texts
    assert {r["article_id"] for r in read_jsonl(out)} == {"a1", "a2"}


def test_utf8_csv_with_one_bad_byte_keeps_the_other_rows_and_reports_line_3(tmp_path):
    src = tmp_path / "feed.csv"
    src.write_bytes("id,text\na1,\"Le ministre a annoncé une trêve.\"\n".encode()
                    + b"a2,\"a stray \xe9 byte\"\n"
                    + "a3,\"Les négociations reprendront à Genève.\"\n".encode())
    arts, errs = _read([src])
    assert [(a.article_id, a.line) for a in arts] == [("a1", 2), ("a3", 4)]
    assert arts[1].text == "Les négociations reprendront à Genève."
    assert [(e.line, e.message) for e in errs] == [(3, "not valid UTF-8 text; row skipped")]


def test_parquet_with_one_corrupt_row_group_keeps_its_readable_row_groups(tmp_path):
    records = [{"id": f"a{i}", "text": f"Article {i}: both sides agreed to hold talks."} for i in range(30)]
    src = write_corrupt_parquet(tmp_path / "feed.parquet", records, row_group_size=10, bad_group=1)
    arts, errs = _read([src], chunk_rows=4)
    assert [a.article_id for a in arts] == [f"a{i}" for i in [*range(10), *range(20, 30)]]
    assert [a.line for a in arts][9:11] == [10, 21]
    [err] = errs
    assert err.line == 11 and err.message.startswith("corrupt Parquet row group 2 of 3: rows 11-20 skipped")


def test_unreadable_subfolder_is_an_error_naming_it_and_the_rest_is_ingested(tmp_path):
    root = tmp_path / "in"
    (root / "locked").mkdir(parents=True)
    (root / "ok.txt").write_text(ARTICLE, encoding="utf-8")
    (root / "locked" / "hidden.txt").write_text(ARTICLE, encoding="utf-8")
    (root / "locked").chmod(0)
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    try:
        done = subprocess.run(without_root_privileges(stance_command("ingest", root, "--out", out, "--errors", errors)),
                              capture_output=True, text=True, timeout=300)
    finally:
        (root / "locked").chmod(0o755)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _errors(errors)["locked"]["message"].startswith("cannot read folder: Permission denied")
    assert {r["source_path"] for r in read_jsonl(out)} == {str(root / "ok.txt")}


def test_glob_matching_broken_and_looping_links_names_them_and_ingests_the_rest(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (root / "broken.txt").symlink_to(root / "gone.txt")
    (root / "loop.txt").symlink_to(root / "loop.txt")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    result = stance("ingest", str(root / "*.txt"), "--out", str(out), "--errors", str(errors))
    assert result.exit_code == 1, result.output
    assert "cannot write" not in result.output
    found = _errors(errors)
    assert found["broken.txt"]["message"].startswith("broken symbolic link")
    assert found["loop.txt"]["message"] == "symbolic link loop; skipped"
    assert {r["source_path"] for r in read_jsonl(out)} == {str(root / "a.txt")}


def test_fifo_input_is_skipped_and_named_instead_of_waited_for(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.txt").write_text(ARTICLE, encoding="utf-8")
    os.mkfifo(root / "pipe.txt")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    # Given inside a folder and by name: before, the named FIFO blocked the run forever.
    done = subprocess.run(stance_command("ingest", root, root / "pipe.txt", "--out", out, "--errors", errors),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert [e["message"] for e in read_jsonl(errors)] == ["not a regular file (a FIFO); skipped"]
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["source_path"] == str(root / "a.txt")
