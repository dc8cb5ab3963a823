"""Loading and validating labeled JSONL files and snapshot directories."""
from __future__ import annotations

import json

import pytest

from tests.helpers import cli_invoker, write_jsonl
from training.labeled import LabeledDataError, label_matrix, load_labeled


def test_load_fills_group_and_article_from_id_and_orders_tags(tmp_path, tags):
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "text": "Hi.", "labels": ["denial", "escalation"]}])
    [row] = load_labeled(path, tags)
    assert row == {"id": "a", "text": "Hi.", "labels": ["escalation", "denial"], "group_id": "a", "article_id": "a"}


def test_unknown_tag_names_file_line_and_tag(tmp_path, tags):
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "text": "ok", "labels": []},
                                              {"id": "b", "text": "ok", "labels": ["anger"]}])
    with pytest.raises(LabeledDataError, match=r"x\.jsonl:2: unknown tag\(s\) 'anger'"):
        load_labeled(path, tags)


def test_empty_text_and_duplicate_id_with_other_labels_are_all_reported(tmp_path, tags):
    path = write_jsonl(tmp_path / "x.jsonl", [
        {"id": "a", "text": "  ", "labels": []},
        {"id": "b", "text": "one", "labels": ["denial"]},
        {"id": "b", "text": "one", "labels": ["accusation"]},
    ])
    with pytest.raises(LabeledDataError) as info:
        load_labeled(path, tags)
    message = str(info.value)
    assert "2 bad labeled row(s)" in message
    assert "x.jsonl:1: empty or missing 'text'" in message
    assert "x.jsonl:3: duplicate id 'b' with different labels" in message


def test_exact_duplicate_is_dropped(tmp_path, tags):
    row = {"id": "a", "text": "one", "labels": ["denial"]}
    assert len(load_labeled(write_jsonl(tmp_path / "x.jsonl", [row, row]), tags)) == 1


def test_malformed_json_names_line(tmp_path, tags):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a", "text": "t", "labels": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(LabeledDataError, match=r"x\.jsonl:2: malformed JSON"):
        load_labeled(path, tags)


def test_non_utf8_and_malformed_lines_are_all_reported_with_file_and_line(tmp_path, tags):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok", "labels": []}\n'
                     b'{"id": "b", "text": "caf\xe9", "labels": []}\n'
                     b'{oops\n'
                     b'{"id": "c", "text": "\xff\xfe", "labels": []}\n'
                     b'{"id": "d", "text": "na\xc3\xafve", "labels": []}\n')
    with pytest.raises(LabeledDataError) as info:
        load_labeled(path, tags)
    message = str(info.value)
    assert "3 bad labeled row(s)" in message
    assert "x.jsonl:2: not UTF-8 (byte 0xe9" in message
    assert "x.jsonl:3: malformed JSON" in message
    assert "x.jsonl:4: not UTF-8 (byte 0xff" in message


def test_dataset_build_names_every_non_utf8_line_without_a_traceback(tmp_path):
    path = tmp_path / "latin1.jsonl"
    rows = [{"id": f"r{i}", "text": f"Caf\u00e9 number {i} was closed.", "labels": []} for i in range(4)]
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("latin-1"))
    result = cli_invoker()("dataset", "build", path, "--out", tmp_path / "ds")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "Traceback" not in result.output and "codec" not in message
    for line in (1, 2, 3, 4):
        assert f"latin1.jsonl:{line}: not UTF-8 (byte 0xe9" in message
    assert not (tmp_path / "ds").exists()


def test_snapshot_folder_uses_newest_snapshot(tmp_path, tags):
    for stamp, text in (("20240101T000000Z", "old"), ("20250101T000000Z", "new")):
        (tmp_path / stamp).mkdir()
        write_jsonl(tmp_path / stamp / "labeled.jsonl", [{"id": "a", "text": text, "labels": []}])
    assert load_labeled(tmp_path, tags)[0]["text"] == "new"
    assert load_labeled(tmp_path / "20240101T000000Z", tags)[0]["text"] == "old"


def test_missing_path_is_a_clear_error(tmp_path, tags):
    with pytest.raises(FileNotFoundError, match="no such labeled file"):
        load_labeled(tmp_path / "nope.jsonl", tags)


def test_label_matrix_columns_follow_tags(tags):
    y = label_matrix([{"labels": ["denial"]}, {"labels": []}], tags)
    assert y.tolist() == [[0, 0, 0, 1], [0, 0, 0, 0]]
