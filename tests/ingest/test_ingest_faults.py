"""`stance ingest` on hostile inputs and outputs: markup in data, NUL bytes, the output format,
folders and files that cannot be written. Each ends in output and a summary, or one error line."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers import cli_invoker, read_jsonl, read_only_dir

stance = cli_invoker()

STORY = ("The army [/b] threatened to strike the border towns within days [bold]. "
         "Officials warned that troops were massing near the frontier.\n")


def _flat(output: str) -> str:
    return " ".join(output.replace("│", " ").split())  # table cells read as one line


def test_markup_in_file_names_sentences_and_dropped_lines_prints_as_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative paths: table cells do not fold them
    folder = Path("in[") / "b]"  # paths 'in[/b]/...': a closing tag when read as markup
    folder.mkdir(parents=True)
    (folder / "story.txt").write_text("title Border [/b] news\n\n" + STORY + "Talks [i] ended.\n", encoding="utf-8")
    (folder / "copy.txt").write_text(STORY + "Both sides agreed to hold talks.\n", encoding="utf-8")
    (folder / "bad[").mkdir()
    (folder / "bad[" / "i].txt").write_bytes(b"\x00\x01\x02 binary")  # in[/b]/bad[/i].txt
    result = stance("ingest", "in[", "--out", "out[/b].jsonl", "--show-dropped", "--errors", "e[/b].jsonl")
    assert result.exit_code == 1, result.output  # one input skipped, and no MarkupError after the output
    flat = _flat(result.output)
    assert "MarkupError" not in flat and "Traceback" not in flat
    assert "in[/b]/bad[/i].txt: binary file" in flat  # the skipped file, named as it is
    assert "title Border [/b] news" in flat  # a dropped line
    assert "The army [/b] threatened" in flat  # the near-duplicate group's example sentence
    assert "stance ingest -> out[/b].jsonl" in flat and "1 input(s) skipped" in flat
    texts = [r["text"] for r in read_jsonl(Path("out[/b].jsonl"))]
    assert "The army [/b] threatened to strike the border towns within days [bold]." in texts
    assert len(read_jsonl(Path("e[/b].jsonl"))) == 1


def test_nul_bytes_in_csv_fields_are_stripped_from_sentences_and_counted(tmp_path):
    src = tmp_path / "feed.csv"
    src.write_bytes(b'id,text\n'
                    b'a1,"The army\x00 threatened to strike the border towns within days. Officials warned\x00\x00 '
                    b'that troops were massing."\n'
                    b'a2,"Both sides agreed to restore dialogue and hold talks next month."\n')
    out = tmp_path / "s.jsonl"
    result = stance("ingest", src, "--out", out)
    assert result.exit_code == 0, result.output
    records = read_jsonl(out)
    assert [r["text"] for r in records] == [
        "The army threatened to strike the border towns within days.", "Officials warned that troops were massing.",
        "Both sides agreed to restore dialogue and hold talks next month."]
    assert not any("\x00" in json.dumps(r, ensure_ascii=False) or "\\u0000" in json.dumps(r) for r in records)
    assert "NUL characters 3 stripped" in _flat(result.output)


def test_parquet_extension_without_format_writes_parquet(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(STORY, encoding="utf-8")
    out = tmp_path / "x.parquet"
    result = stance("ingest", src, "--out", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)  # a Parquet file, not JSONL under a .parquet name
    assert table.num_rows == 2 and "group_id" in table.column_names


@pytest.mark.parametrize("name, fmt, message", [
    ("x.jsonl", "parquet", "--format parquet does not match the extension of"),
    ("x.csv", None, "writes JSONL or Parquet, not CSV"),
])
def test_output_name_that_contradicts_the_format_is_refused_before_any_work(tmp_path, name, fmt, message):
    src = tmp_path / "a.txt"
    src.write_text(STORY, encoding="utf-8")
    result = stance("ingest", src, "--out", tmp_path / name, *(["--format", fmt] if fmt else []))
    assert result.exit_code == 2 and message in _flat(result.output)
    assert not (tmp_path / name).exists()


def test_read_only_output_folder_is_one_error_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(STORY, encoding="utf-8")
    with read_only_dir(tmp_path / "ro") as ro:
        result = stance("ingest", src, "--out", ro / "out.jsonl")
        left = list(ro.iterdir())
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot write ") and "ro/out.jsonl" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert left == []


def test_errors_file_that_cannot_be_written_is_refused_before_the_output_is_written(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(STORY, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with read_only_dir(tmp_path / "ro") as ro:
        result = stance("ingest", src, "--out", out, "--errors", ro / "skipped.jsonl")
    assert result.exit_code == 2, result.output
    assert "error: cannot write " in result.output and "ro/skipped.jsonl" in result.output
    assert "Traceback" not in result.output and "PermissionError" not in result.output
    assert not out.exists()  # refused before any work, not after the output


def test_errors_path_that_is_a_folder_is_refused(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(STORY, encoding="utf-8")
    result = stance("ingest", src, "--out", tmp_path / "out.jsonl", "--errors", tmp_path)
    assert result.exit_code == 2 and "it is a folder" in result.output
    assert not (tmp_path / "out.jsonl").exists()
