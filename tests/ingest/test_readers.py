"""Reading inputs: formats, encodings, and one test per bad input of issue 2."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.ingest.readers import Article, ReadError, ReadOptions, decode_bytes, iter_articles

RUSSIAN = "Министр заявил, что переговоры возобновятся на следующей неделе в Женеве."
FRENCH = "Le ministre a déclaré que les négociations reprendront à Genève après l'été."


def _read(paths, **kw):
    items = list(iter_articles([str(p) for p in paths], ReadOptions(**kw)))
    return [i for i in items if isinstance(i, Article)], [i for i in items if isinstance(i, ReadError)]


def test_cp1251_russian_file_decodes_to_the_right_text(tmp_path):
    path = tmp_path / "ru.txt"
    path.write_bytes(((RUSSIAN + "\n") * 3).encode("cp1251"))
    arts, errs = _read([path])
    assert not errs
    assert RUSSIAN in arts[0].text


def test_latin1_file_decodes_accents(tmp_path):
    path = tmp_path / "fr.txt"
    path.write_bytes(((FRENCH + "\n") * 3).encode("latin-1"))
    arts, errs = _read([path])
    assert not errs
    assert "déclaré" in arts[0].text and "négociations" in arts[0].text


def test_empty_file_is_a_read_error_naming_the_file(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"  \n")
    arts, errs = _read([tmp_path / "empty.txt"])
    assert not arts
    assert errs[0].path.endswith("empty.txt") and "empty file" in errs[0].message


def test_binary_file_is_a_read_error(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    _, errs = _read([tmp_path / "blob.txt"])
    assert "binary file" in errs[0].message


def test_decode_bytes_rejects_undecodable_control_noise():
    with pytest.raises(ValueError, match="binary file"):
        decode_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 100)


def test_unreadable_file_is_a_read_error_and_the_rest_is_read(tmp_path, messy_path):
    locked = tmp_path / "locked.txt"
    locked.write_text("Some text.")
    locked.chmod(0)
    try:
        arts, errs = _read([locked, messy_path, tmp_path / "missing.txt"])
    finally:
        locked.chmod(0o644)
    messages = {e.path.split("/")[-1]: e.message for e in errs}
    assert messages["missing.txt"] == "no such file or directory"
    assert len(arts) == 1 + ("locked.txt" not in messages)  # root can read a mode-0 file
    if "locked.txt" in messages:
        assert messages["locked.txt"].startswith("cannot read")


def test_malformed_jsonl_line_is_reported_with_its_line_and_the_rest_is_read(tmp_path):
    path = tmp_path / "articles.jsonl"
    path.write_text(
        json.dumps({"id": "a1", "text": "First article body. It has two sentences."}) + "\n"
        + '{"id": "a2", "text": "broken\n'
        + json.dumps({"id": "a3", "text": "Third article body here."}) + "\n"
    )
    arts, errs = _read([path])
    assert [a.article_id for a in arts] == ["a1", "a3"]
    assert errs[0].line == 2 and "malformed JSON" in errs[0].message
    assert str(errs[0]).startswith(f"{path}:2:")


def test_missing_text_column_in_csv_names_the_column(tmp_path):
    path = tmp_path / "articles.csv"
    path.write_text("id,body\n1,Some text here.\n")
    _, errs = _read([path])
    assert "missing text column 'text'" in errs[0].message and "body" in errs[0].message


def test_csv_with_custom_columns_reads_every_record(tmp_path):
    path = tmp_path / "articles.csv"
    path.write_text('doc,body,headline\nx1,"Body one, with a comma.",Title one\nx2,Body two.,Title two\n')
    arts, errs = _read([path], text_col="body", id_col="doc", title_col="headline")
    assert not errs
    assert [(a.article_id, a.title, a.line) for a in arts] == [("x1", "Title one", 2), ("x2", "Title two", 3)]


def test_parquet_is_read_in_chunks_with_all_records(tmp_path):
    path = tmp_path / "articles.parquet"
    table = pa.table({"id": [f"p{i}" for i in range(25)], "text": [f"Article number {i} says hello." for i in range(25)],
                      "url": [None] * 25})
    pq.write_table(table, path, row_group_size=10)
    arts, errs = _read([path], chunk_rows=7)
    assert not errs
    assert [a.article_id for a in arts] == [f"p{i}" for i in range(25)]
    assert arts[3].url is None and arts[3].line == 4


def test_missing_text_column_in_parquet_is_a_read_error(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    _, errs = _read([path])
    assert "missing text column 'text'" in errs[0].message


def test_directory_and_glob_expand_to_supported_files_once(tmp_path, messy_path):
    (tmp_path / "a.txt").write_text("Alpha article text goes here.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Beta article text goes here.")
    (tmp_path / "notes.md").write_text("ignored in directories")
    arts, errs = _read([tmp_path, tmp_path / "*.txt"])
    assert not errs
    assert sorted(a.source_path.split("/")[-1] for a in arts) == ["a.txt", "b.txt"]


def test_glob_without_matches_and_unsupported_type_are_errors(tmp_path):
    (tmp_path / "x.docx").write_bytes(b"PK")
    _, errs = _read([tmp_path / "nothing-*.txt", tmp_path / "x.docx"])
    assert [e.message.split(";")[0] for e in errs] == ["no files match this pattern", "unsupported file type '.docx'"]


def test_html_main_text_is_extracted_without_navigation(html_path):
    arts, errs = _read([html_path])
    assert not errs
    art = arts[0]
    assert art.is_html and art.title == "Ostland and Federation agree to talks"
    assert "withdraw patrol boats" in art.text
    assert "Sport" not in art.text and "Cookie settings" not in art.text
