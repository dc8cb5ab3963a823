"""Per-slice evaluation (`stance evaluate --by`): slices, prefixes, exact match, the file pseudo-field."""
from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import TAGS, make_rows, write_jsonl
from training.evaluate import evaluate_slices, slice_rows
from training.labeled import load_labeled


class KeywordScorer:
    """Scores each tag 0.9 when its cue word is in the text: a transparent stand-in model."""

    kind, tags, thresholds = "keyword", TAGS, [0.5] * 4
    cues = {"escalation": "threatened", "de-escalation": "agreed", "accusation": "accused", "denial": "denied"}

    def predict_proba(self, texts):
        return np.array([[0.9 if self.cues[t] in s else 0.1 for t in self.tags] for s in texts])


def test_slices_split_rows_by_field_and_by_article_prefix():
    rows = [{"id": "a", "kind": "headline", "article_id": "wa-1"}, {"id": "b", "kind": "body", "article_id": "wa-1"},
            {"id": "c", "article_id": "fm-2"}]
    assert {k: [r["id"] for r in v] for k, v in slice_rows(rows, "kind").items()} == \
        {"(none)": ["c"], "body": ["b"], "headline": ["a"]}
    assert list(slice_rows(rows, "article_id:prefix")) == ["fm", "wa"]
    with pytest.raises(ValueError, match="no row has a 'source' field"):
        slice_rows(rows, "source")
    with pytest.raises(ValueError, match="FIELD or FIELD:prefix"):
        slice_rows(rows, "kind:suffix")


def test_each_slice_is_scored_with_its_own_rows(tmp_path):
    rows = make_rows(40)
    for r in rows[:20]:
        r["kind"] = "easy"
    for r in rows[20:]:
        r["kind"] = "hard"
        r["text"] = "Officials spoke."  # no cue: the keyword model gets every tagged row wrong here
    folder = tmp_path / "dev"
    folder.mkdir()
    write_jsonl(folder / "one.jsonl", rows[:30])
    write_jsonl(folder / "two.jsonl", rows[30:])
    loaded = load_labeled(folder, TAGS, keep=["kind", "file"])
    assert {r["file"] for r in loaded} == {"one", "two"}

    by_kind = evaluate_slices(KeywordScorer(), loaded, "kind", n_boot=20)
    assert list(by_kind) == ["(all)", "easy", "hard"]
    assert by_kind["easy"]["n"] == 20 and by_kind["hard"]["n"] == 20
    untagged = sum(not r["labels"] for r in rows[20:]) / 20
    assert by_kind["hard"]["exact_match"] == pytest.approx(untagged)
    assert by_kind["easy"]["macro_f1"] > by_kind["hard"]["macro_f1"]
    assert by_kind["(all)"]["n"] == 40
    assert list(evaluate_slices(KeywordScorer(), loaded, "file", n_boot=20)) == ["(all)", "one", "two"]


def test_a_slice_with_nothing_to_score_has_no_macro_f1_and_prints_a_dash():
    from rich.console import Console

    from training.cli.evaluate_cmd import _slice_table

    rows = [{"id": "t", "text": "Officials accused the envoy.", "labels": ["accusation"], "kind": "body"},
            {"id": "d", "text": "Moscow, 2 December", "labels": [], "kind": "dateline"}]
    by_kind = evaluate_slices(KeywordScorer(), rows, "kind", n_boot=20)
    # the dateline is rightly left untagged: no tag has anything to score, so no macro-F1 (was 0.000)
    assert np.isnan(by_kind["dateline"]["macro_f1"]) and by_kind["dateline"]["exact_match"] == 1.0
    # the body slice is scored on accusation only, the one tag it holds or was given (was 0.25)
    assert by_kind["body"]["macro_f1"] == pytest.approx(1.0)
    console = Console(record=True, width=200)
    console.print(_slice_table("kind", by_kind, TAGS))
    dateline = next(line for line in console.export_text().splitlines() if "dateline" in line)
    assert "nan" not in dateline and dateline.split("│")[3].strip() == "-"
