"""Agreement between gold labels and a second labeling, through the project's alpha code."""
from __future__ import annotations

import json

import pytest

from labeling.gold_agreement import agreement_rows, main

TAGS = ["escalation", "de-escalation", "accusation", "denial"]


def _rows():
    same = [{"id": f"s{i}", "part": "p1", "gold": g, "second": g}
            for i, g in enumerate([["escalation"], ["denial"], [], ["accusation", "escalation"], ["de-escalation"]] * 4)]
    differ = [{"id": "d1", "part": "p2", "gold": ["accusation"], "second": ["accusation", "escalation"]},
              {"id": "d2", "part": "p2", "gold": ["denial"], "second": ["denial"]}]
    return same + differ


def test_identical_labels_agree_fully_and_a_missed_tag_lowers_only_its_alpha():
    table = agreement_rows(_rows(), TAGS)
    assert list(table) == ["all", "p1", "p2"]
    assert table["p1"]["escalation"] == pytest.approx(1.0) and table["p1"]["exact"] == 1.0
    assert table["all"]["escalation"] < 1.0
    assert table["all"]["denial"] == pytest.approx(1.0)
    assert table["all"]["exact"] == pytest.approx(21 / 22)
    assert table["all"]["n"] == 22


def test_cli_prints_a_markdown_table(tmp_path, capsys):
    path = tmp_path / "second.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows()), encoding="utf-8")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "| all | 22 | 0.95 |" in out and "alpha escalation" in out
