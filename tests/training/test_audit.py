"""The label audit finds sentences whose given tags contradict out-of-fold predictions."""
from __future__ import annotations

import pytest

from tests.helpers import TAGS
from training.audit import out_of_fold_probs, rank_issues
from training.baseline import BaselineConfig
from training.cv import CVError

ESCALATION = [
    "The army deployed {n} tanks to the border overnight.",
    "Rebels shelled the town of {n} and killed several soldiers.",
    "The government threatened new sanctions against {n}.",
    "Troops massed near {n} as the ultimatum expired.",
]
DEESCALATION = [
    "The two sides agreed to a ceasefire in {n}.",
    "Negotiators signed a peace deal in {n} on Friday.",
    "Both governments agreed to resume talks in {n}.",
    "The rebels agreed to withdraw their fighters from {n}.",
]
ACCUSATION = [
    "The minister accused {n} of violating the agreement.",
    "Officials blamed {n} for the irresponsible attack.",
    "Prosecutors charged {n} with espionage.",
    "The president criticised {n} for double standards.",
]
DENIAL = [
    "{n} denied the allegations as baseless.",
    "{n} rejected the report as fabricated.",
    "{n} dismissed reports of troop movements.",
    "{n} denied any responsibility for the blast.",
]
NEUTRAL = [
    "The meeting took place in {n} on Tuesday.",
    "The museum in {n} reopened after repairs.",
    "{n} hosted the annual trade fair this week.",
    "The delegation travelled to {n} by train.",
]
PLACES = ["Arden", "Belmar", "Corvia", "Dunmore", "Eskar", "Falun", "Gorsk", "Halden"]


def _rows() -> list[dict]:
    rows = []
    for tag, frames in [("escalation", ESCALATION), ("de-escalation", DEESCALATION),
                        ("accusation", ACCUSATION), ("denial", DENIAL), (None, NEUTRAL)]:
        for f, frame in enumerate(frames):
            for p, place in enumerate(PLACES):
                rid = f"{tag or 'none'}-{f}-{p}"
                rows.append({"id": rid, "text": frame.format(n=place), "labels": [tag] if tag else [],
                             "group_id": rid, "article_id": f"a-{p}"})
    return rows


def test_audit_ranks_a_flipped_label_near_the_top():
    rows = _rows()
    planted = next(r for r in rows if r["id"] == "denial-0-3")
    planted["labels"] = ["de-escalation"]  # a denial sentence mislabeled as de-escalation
    probs = out_of_fold_probs(rows, TAGS, k=4, cfg=BaselineConfig())
    issues = rank_issues(rows, TAGS, probs)
    top_ids = [item["id"] for item in issues[:5]]
    assert "denial-0-3" in top_ids
    item = next(i for i in issues if i["id"] == "denial-0-3")
    assert item["given"] == ["de-escalation"]
    assert "denial" in item["add"] and "de-escalation" in item["drop"]
    assert item["flagged"]


def test_audit_scores_clean_rows_better_than_the_planted_mistake():
    rows = _rows()
    rows[0]["labels"] = ["denial"]  # an escalation sentence mislabeled as denial
    issues = rank_issues(rows, TAGS, out_of_fold_probs(rows, TAGS, k=4, cfg=BaselineConfig()))
    scores = {i["id"]: i["score"] for i in issues}
    clean = [s for rid, s in scores.items() if rid != rows[0]["id"]]
    assert scores[rows[0]["id"]] < sorted(clean)[len(clean) // 10]


def test_audit_refuses_more_folds_than_a_tag_has_examples():
    rows = _rows()[:40] + _rows()[-3:]
    with pytest.raises(CVError, match="denial|fewer"):
        out_of_fold_probs(rows, TAGS, k=5, cfg=BaselineConfig())
