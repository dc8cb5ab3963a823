"""A Label Studio JSON export -> labeled rows, annotation list and adjudication items (pure).

Per task, the valid (not cancelled or skipped) annotations vote per tag: a tag is on
when more than half of the annotators chose it. A tag chosen by exactly half is a
tie; any tag without unanimity is a disagreement; both are listed for adjudication.
A sentence with a tie has no answer yet: it stays out of the labeled rows (a tie read
as "tag off" would train on "no stance" nobody chose) and in the adjudication list until
it is resolved. A disagreement with a majority is labeled by the majority and listed for
review. An annotation marked ground truth (the star in Label Studio) is the adjudicated
answer and overrides the vote.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from labeling.studio.config_xml import CONTROL_NAME


class ExportError(ValueError):
    """The export cannot be turned into labeled rows; the message names the task."""


@dataclass
class ExportResult:
    """Everything a snapshot holds besides the raw export."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    adjudication: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def annotator_name(ann: Mapping[str, Any], users: Mapping[int, str] | None = None) -> str:
    """A stable annotator name: the e-mail when known, else `user-<id>`."""
    who = ann.get("completed_by")
    if isinstance(who, Mapping):
        return str(who.get("email") or who.get("username") or f"user-{who.get('id')}")
    if users and who in users:
        return users[who]
    return f"user-{who}"


def _task_name(task: Mapping[str, Any]) -> str:
    data = task.get("data")
    sid = data.get("sentence_id") if isinstance(data, Mapping) else None
    return f"task {task.get('id')}" + (f" ({sid})" if sid else "")


def _expect(value: Any, kind: type | tuple[type, ...], what: str, where: str, field_name: str) -> Any:
    """`value` when it is of `kind`, else ExportError naming the task and the field (a hand-edited
    or foreign export must end in that line, not in an AttributeError deep in the parser)."""
    if not isinstance(value, kind):
        raise ExportError(f"{where}: field {field_name!r} should be {what}, got {type(value).__name__} {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _items(value: Any, where: str, field_name: str) -> list[Any]:
    """A list field that may be absent or null (no annotations, no result): [] then."""
    return [] if value is None else _expect(value, list, "a list", where, field_name)


def annotation_labels(ann: Mapping[str, Any], tags: Sequence[str], where: str, field_name: str = "annotation") -> list[str]:
    """The tags chosen in one annotation, in schema order.

    Raises ExportError naming the task (`where`) and the field (under `field_name`) for an
    unknown tag or a result, item, value or choice list of the wrong type.
    """
    chosen: set[str] = set()
    for k, item in enumerate(_items(ann.get("result"), where, f"{field_name}.result")):
        item = _expect(item, Mapping, "an object", where, f"{field_name}.result[{k}]")
        if item.get("from_name") != CONTROL_NAME or item.get("type") != "choices":
            continue
        value = _expect(item.get("value") or {}, Mapping, "an object", where, f"{field_name}.result[{k}].value")
        for choice in _items(value.get("choices"), where, f"{field_name}.result[{k}].value.choices"):
            if choice not in tags:
                raise ExportError(f"{where}: tag {choice!r} is not in the schema ({', '.join(tags)})")
            chosen.add(choice)
    return [t for t in tags if t in chosen]


def _latest_per_annotator(valid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # One vote per person: a re-annotation replaces the earlier one.
    latest: dict[str, dict[str, Any]] = {}
    for vote in sorted(valid, key=lambda v: v["annotation_id"] or 0):
        latest[vote["annotator"]] = vote
    return sorted(latest.values(), key=lambda v: v["annotator"])


def resolve_votes(votes: list[dict[str, Any]], tags: Sequence[str]) -> tuple[list[str], dict[str, dict]]:
    """Majority vote per tag. Returns (labels, {tag: {"yes": [...], "no": [...], "tie": bool}})
    for the tags on which the annotators disagree."""
    n = len(votes)
    labels, disputed = [], {}
    for tag in tags:
        yes = [v["annotator"] for v in votes if tag in v["labels"]]
        no = [v["annotator"] for v in votes if tag not in v["labels"]]
        if 2 * len(yes) > n:
            labels.append(tag)
        if yes and no:
            disputed[tag] = {"yes": yes, "no": no, "tie": 2 * len(yes) == n}
    return labels, disputed


def _check_task(task: Any, position: int) -> dict[str, Any]:
    _expect(task, Mapping, "an object", f"task at position {position} of the export", "task")
    data = task.get("data")
    if not isinstance(data, Mapping) or not data.get("sentence_id"):
        raise ExportError(f"{_task_name(task)}: task data has no sentence_id (not pushed by `stance label push`?)")
    where = _task_name(task)
    _expect(data["sentence_id"], str, "a string", where, "data.sentence_id")
    _expect(data.get("text", ""), str, "a string", where, "data.text")
    return dict(data)


def _check_annotation(ann: Any, where: str, field_name: str) -> Mapping[str, Any]:
    ann = _expect(ann, Mapping, "an object", where, field_name)
    # ids order re-annotations and name people: a list or a text id would fail far from here
    _expect(ann.get("id"), (int, type(None)), "an integer", where, f"{field_name}.id")
    who = ann.get("completed_by")
    _expect(who, (int, str, Mapping, type(None)), "a user id or object", where, f"{field_name}.completed_by")
    return ann


def parse_export(export: Sequence[Mapping[str, Any]], tags: Sequence[str],
                 users: Mapping[int, str] | None = None) -> ExportResult:
    """Turn a Label Studio JSON export into labeled rows, per-annotation rows and adjudication items.

    Inputs: the export (a list of tasks), the schema's tag names, optional user id -> name.
    Raises ExportError for an empty export, a task without sentence_id, an unknown tag, or a
    task, annotation, result or field of the wrong type (naming the task and the field).
    Every task is checked before anything is returned, so callers write all or nothing.
    """
    if not isinstance(export, Sequence) or isinstance(export, (str, bytes)):
        raise ExportError("export: expected a JSON list of tasks")
    if not export:
        raise ExportError("export: empty result (the project has no tasks)")
    out = ExportResult()
    counts = dict(tasks=len(export), labeled=0, unlabeled=0, unresolved=0, annotations=0, cancelled=0,
                  adjudicated=0, disputed=0)
    for position, task in enumerate(export, 1):
        data = _check_task(task, position)
        where = _task_name(task)
        valid = []
        for j, ann in enumerate(_items(task.get("annotations"), where, "annotations")):
            ann = _check_annotation(ann, where, f"annotations[{j}]")
            if ann.get("was_cancelled"):
                counts["cancelled"] += 1
                continue
            valid.append({"annotation_id": ann.get("id"), "annotator": annotator_name(ann, users),
                          "labels": annotation_labels(ann, tags, where, f"annotations[{j}]"),
                          "ground_truth": bool(ann.get("ground_truth"))})
        votes = _latest_per_annotator(valid)
        counts["annotations"] += len(votes)
        if not votes:
            counts["unlabeled"] += 1
            continue
        labels, disputed = resolve_votes(votes, tags)
        truth = [v for v in votes if v["ground_truth"]]
        tie = not truth and any(d["tie"] for d in disputed.values())
        if truth:
            labels = max(truth, key=lambda v: v["annotation_id"] or 0)["labels"]
            counts["adjudicated"] += 1
        elif disputed:
            counts["disputed"] += 1
            out.adjudication.append({
                "id": data["sentence_id"], "task_id": task.get("id"), "text": data.get("text", ""),
                "reason": "tie" if tie else "disagreement", "resolved": not tie,
                "majority": labels, "tags": disputed,
                "votes": {v["annotator"]: v["labels"] for v in votes},
            })
        out.annotations.extend({"id": data["sentence_id"], "task_id": task.get("id"),
                                "annotator": v["annotator"], "labels": v["labels"]} for v in votes)
        if tie:
            counts["unresolved"] += 1  # no majority on some tag: not a label until someone decides
            continue
        counts["labeled"] += 1
        out.rows.append({"id": data["sentence_id"], "text": data.get("text", ""), "labels": labels,
                         "group_id": data.get("group_id"), "article_id": data.get("article_id"),
                         "annotators": [v["annotator"] for v in votes]})
    out.counts = counts
    return out
