import pytest

from labeling.studio.tasks import (build_prediction, build_task, confidence, group_sentences, select_groups,
                                   task_data)
from tests.helpers import TAGS
from tests.studio.helpers import sentence

THRESHOLDS = {t: 0.5 for t in TAGS}


def _pairs(records):
    return [(f"in.jsonl:{i + 1}", r) for i, r in enumerate(records)]


def test_one_group_per_duplicate_group_and_members_listed():
    records = [sentence(0, group=7), sentence(1), sentence(2, group=7, article=2)]
    groups, skipped = group_sentences(_pairs(records))
    assert [g.sentence_id for g in groups] == [records[0]["sentence_id"], records[1]["sentence_id"]]
    assert groups[0].members == [records[2]["sentence_id"]] and skipped == 0


def test_records_not_for_labeling_are_skipped_and_counted():
    groups, skipped = group_sentences(_pairs([sentence(0), sentence(1, for_labeling=False)]))
    assert len(groups) == 1 and skipped == 1


def test_missing_group_id_names_the_record():
    bad = sentence(0)
    del bad["group_id"]
    with pytest.raises(ValueError, match=r"in.jsonl:1: sentence record lacks group_id"):
        group_sentences(_pairs([bad]))


def test_task_data_carries_context_ids_and_provenance():
    groups, _ = group_sentences(_pairs([sentence(0)]))
    data = task_data(groups[0])
    assert data["prev_text"] == "" and data["next_text"] == "Next sentence 0."
    assert data["sentence_id"] == "s-0000000000000000" and data["article_id"].startswith("a-")
    assert data["provenance"]["url"] == "https://example.org/1"
    assert data["source_line"] == "Example Wire \u00b7 2024-03-01"


def test_prediction_chooses_tags_above_threshold_and_scores_confidence():
    probs = {"escalation": 0.9, "de-escalation": 0.1, "accusation": 0.6, "denial": 0.2}
    pred = build_prediction(probs, THRESHOLDS, "stance:3")
    assert pred["model_version"] == "stance:3"
    assert pred["result"][0]["value"]["choices"] == ["escalation", "accusation"]
    # margins: 0.8, 0.8, 0.2, 0.6 -> the least sure tag decides; shown as a probability: 0.5 + 0.2 / 2
    assert pred["score"] == pytest.approx(0.6)


def test_confidence_respects_uneven_thresholds():
    # p=0.6 above t=0.2: (0.6-0.2)/0.8 = 0.5 ; p=0.1 below t=0.2: 0.1/0.2 = 0.5
    assert confidence({"a": 0.6, "b": 0.1}, {"a": 0.2, "b": 0.2}) == pytest.approx(0.5)


def test_prediction_without_tags_has_empty_result():
    pred = build_prediction({t: 0.0 for t in TAGS}, THRESHOLDS, "m:1")
    assert pred["result"] == [] and pred["score"] == 1.0


def test_prediction_missing_tag_is_an_error():
    with pytest.raises(ValueError, match="lacks probabilities for denial"):
        build_prediction({"escalation": 0.1, "de-escalation": 0.1, "accusation": 0.1}, THRESHOLDS, "m:1")


def test_build_task_includes_prediction_only_when_given():
    groups, _ = group_sentences(_pairs([sentence(0)]))
    assert "predictions" not in build_task(groups[0])
    assert build_task(groups[0], {"model_version": "m", "score": 1, "result": []})["predictions"][0]["model_version"] == "m"


def test_uncertainty_picks_least_confident_groups():
    groups, _ = group_sentences(_pairs([sentence(i) for i in range(5)]))
    scores = {g.sentence_id: s for g, s in zip(groups, [0.9, 0.1, 0.5, 0.05, 0.7])}
    picked = select_groups(groups, 2, "uncertainty", scores)
    assert [g.sentence_id for g in picked] == [groups[1].sentence_id, groups[3].sentence_id]


def test_random_selection_is_seeded_and_sized():
    groups, _ = group_sentences(_pairs([sentence(i) for i in range(10)]))
    first = select_groups(groups, 3, "random", seed=1)
    assert len(first) == 3 and first == select_groups(groups, 3, "random", seed=1)


def test_uncertainty_without_scores_is_an_error():
    groups, _ = group_sentences(_pairs([sentence(i) for i in range(3)]))
    with pytest.raises(ValueError, match="needs model scores"):
        select_groups(groups, 1, "uncertainty")
    with pytest.raises(ValueError, match="unknown strategy 'best'"):
        select_groups(groups, 1, "best")
