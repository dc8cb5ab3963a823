"""The record of what a model was trained on, and the overlap check built on it."""
from __future__ import annotations

from training.lineage import overlap, read_lineage, text_key, write_lineage


def test_keys_ignore_case_and_spacing_but_not_words():
    assert text_key("Iran  accused Turkey.") == text_key("iran accused turkey. ")
    assert text_key("Iran accused Turkey.") != text_key("Turkey accused Iran.")


def test_overlap_finds_seen_sentences_under_new_ids(tmp_path):
    splits = {"train": [{"id": "a", "text": "Troops massed at the border."}],
              "validation": [{"id": "b", "text": "The talks resumed."}],
              "test": [{"id": "c", "text": "The minister denied it."}]}
    write_lineage(tmp_path, {"fingerprint": "fp"}, splits)
    lineage = read_lineage(tmp_path)
    assert lineage["fingerprint"] == "fp" and lineage["sizes"] == {"train": 1, "validation": 1, "test": 1}
    rows = [{"id": "x1", "text": "troops massed at the  border."}, {"id": "x2", "text": "The talks resumed."},
            {"id": "x3", "text": "The minister denied it."}, {"id": "x4", "text": "A new sentence."}]
    assert overlap(lineage, rows) == {"train": [0], "validation": [1]}  # test and unseen rows are fine


def test_a_model_without_lineage_reads_as_none(tmp_path):
    assert read_lineage(tmp_path) is None and read_lineage(None) is None
