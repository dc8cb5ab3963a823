import pytest

from labeling.studio.export import ExportError, parse_export
from tests.helpers import TAGS
from tests.studio.helpers import ann, export_task

USERS = {1: "alice@x", 2: "bob@x", 3: "carol@x"}


def test_majority_vote_per_tag_with_three_annotators():
    export = [export_task(10, "s-1", [ann(1, 1, "escalation", "accusation"), ann(2, 2, "escalation"),
                                      ann(3, 3, "escalation", "accusation")])]
    out = parse_export(export, TAGS, USERS)
    assert out.rows == [{"id": "s-1", "text": "A sentence.", "labels": ["escalation", "accusation"],
                         "group_id": "g-s-1", "article_id": "a-1", "annotators": ["alice@x", "bob@x", "carol@x"]}]
    item = out.adjudication[0]
    assert item["reason"] == "disagreement" and item["tags"]["accusation"] == {
        "yes": ["alice@x", "carol@x"], "no": ["bob@x"], "tie": False}


def test_tie_is_not_a_label_but_waits_for_adjudication():
    out = parse_export([export_task(10, "s-1", [ann(1, 1, "denial"), ann(2, 2)]),
                        export_task(11, "s-2", [ann(3, 1, "denial"), ann(4, 2, "denial")])], TAGS, USERS)
    assert [r["id"] for r in out.rows] == ["s-2"]  # the tie is never written as [] ("no stance")
    (item,) = out.adjudication
    assert (item["id"], item["reason"], item["resolved"]) == ("s-1", "tie", False)
    assert item["votes"] == {"alice@x": ["denial"], "bob@x": []}
    assert out.counts["unresolved"] == 1 and out.counts["labeled"] == 1
    assert {a["id"] for a in out.annotations} == {"s-1", "s-2"}  # both votes still count for agreement


def test_a_third_vote_or_a_ground_truth_star_resolves_a_tie():
    third = parse_export([export_task(10, "s-1", [ann(1, 1, "denial"), ann(2, 2), ann(3, 3, "denial")])], TAGS, USERS)
    assert third.rows[0]["labels"] == ["denial"] and third.adjudication[0]["resolved"] is True
    star = parse_export([export_task(10, "s-1", [ann(1, 1, "denial"), ann(2, 2, ground_truth=True)])], TAGS, USERS)
    assert star.rows[0]["labels"] == [] and star.adjudication == [] and star.counts["unresolved"] == 0


def test_cancelled_annotations_are_ignored_and_counted():
    export = [export_task(10, "s-1", [ann(1, 1, "denial"), ann(2, 2, cancelled=True)]),
              export_task(11, "s-2", [ann(3, 2, cancelled=True)]), export_task(12, "s-3", [])]
    out = parse_export(export, TAGS, USERS)
    assert [r["id"] for r in out.rows] == ["s-1"] and out.rows[0]["labels"] == ["denial"]
    assert out.counts == dict(tasks=3, labeled=1, unlabeled=2, unresolved=0, annotations=1, cancelled=2,
                              adjudicated=0, disputed=0)
    assert out.adjudication == []


def test_ground_truth_annotation_overrides_the_vote():
    export = [export_task(10, "s-1", [ann(1, 1, "denial"), ann(2, 2), ann(3, 3, "accusation", ground_truth=True)])]
    out = parse_export(export, TAGS, USERS)
    assert out.rows[0]["labels"] == ["accusation"] and out.adjudication == [] and out.counts["adjudicated"] == 1


def test_reannotation_by_the_same_person_counts_once():
    out = parse_export([export_task(10, "s-1", [ann(1, 1, "denial"), ann(5, 1, "escalation")])], TAGS, USERS)
    assert out.rows[0]["labels"] == ["escalation"] and out.rows[0]["annotators"] == ["alice@x"]


def test_unknown_tag_names_the_task():
    with pytest.raises(ExportError, match=r"task 11 \(s-2\): tag 'threat' is not in the schema"):
        parse_export([export_task(10, "s-1", [ann(1, 1)]), export_task(11, "s-2", [ann(2, 1, "threat")])], TAGS)


def test_task_without_sentence_id_names_the_task():
    task = export_task(10, "s-1", [])
    del task["data"]["sentence_id"]
    with pytest.raises(ExportError, match="task 10: task data has no sentence_id"):
        parse_export([task], TAGS)


def test_empty_export_is_an_error():
    with pytest.raises(ExportError, match="empty result"):
        parse_export([], TAGS)


def test_annotator_names_fall_back_to_user_ids_and_dicts():
    export = [export_task(10, "s-1", [ann(1, 9, "denial"), dict(ann(2, 0, "denial"), completed_by={"id": 4, "email": "d@x"})])]
    assert parse_export(export, TAGS).rows[0]["annotators"] == ["d@x", "user-9"]


@pytest.mark.parametrize("broken, field", [
    ("a string, not a task", "'task'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": "x"}, "annotations": {"id": 1}}, "'annotations'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": "x"}, "annotations": ["done"]}, "'annotations[0]'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": "x"}, "annotations": [{"id": 1, "result": "escalation"}]},
     "'annotations[0].result'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": "x"}, "annotations": [{"id": 1, "result": [7]}]},
     "'annotations[0].result[0]'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": "x"},
      "annotations": [{"id": 1, "result": [{"from_name": "stance", "type": "choices", "value": {"choices": "denial"}}]}]},
     "'annotations[0].result[0].value.choices'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": "x"}, "annotations": [{"id": "one", "result": []}]},
     "'annotations[0].id'"),
    ({"id": 3, "data": {"sentence_id": "s-3", "text": ["x"]}, "annotations": []}, "'data.text'"),
])
def test_a_task_or_result_of_the_wrong_type_names_the_task_and_field(broken, field):
    export = [export_task(1, "s-1", [ann(1, 1, "denial")]), broken]
    with pytest.raises(ExportError, match="field " + field.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")) as info:
        parse_export(export, TAGS, USERS)
    assert ("task 3 (s-3)" if isinstance(broken, dict) else "task at position 2") in str(info.value)
