"""Sentence records -> Label Studio tasks and predictions (pure, no server).

One task per duplicate group: the group's first sentence in input order (ingestion
order is stable across reruns) is the representative; the other members are listed in
the task data so annotators and the pull know what the label covers.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from labeling.studio.active import select_uncertain_diverse
from labeling.studio.config_xml import CONTROL_NAME, TARGET_NAME

REQUIRED_FIELDS = ("sentence_id", "group_id", "article_id", "text")
PROVENANCE_FIELDS = ("url", "source_path", "lang", "kind", "index", "start", "end")
# the keys of task_data(): the Data Manager shows each as a column `tasks:data.<key>`
DATA_FIELDS = ("text", "prev_text", "next_text", "title", "source", "date", "source_line", "sentence_id",
               "group_id", "article_id", "group_members", "provenance")
STRATEGIES = ("random", "uncertainty", "uncertainty+diversity")


@dataclass
class Group:
    """A duplicate group: its representative sentence record and the other members' ids."""

    representative: dict[str, Any]
    members: list[str] = field(default_factory=list)

    @property
    def group_id(self) -> str:
        return self.representative["group_id"]

    @property
    def sentence_id(self) -> str:
        return self.representative["sentence_id"]


def group_sentences(records: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[Group], int]:
    """Keep `for_labeling` records and group them by `group_id`, in first-seen order.

    Input: (where, record) pairs; `where` (e.g. "file.jsonl:3") names the record in errors.
    Returns (groups, number of records skipped because for_labeling is false).
    Raises ValueError naming the record when a required field is missing or empty.
    """
    groups: dict[str, Group] = {}
    skipped = 0
    for where, rec in records:
        missing = [k for k in REQUIRED_FIELDS if not rec.get(k)]
        if missing:
            raise ValueError(f"{where}: sentence record lacks {', '.join(missing)}")
        if not rec.get("for_labeling", True):
            skipped += 1
            continue
        group = groups.get(rec["group_id"])
        if group is None:
            groups[rec["group_id"]] = Group(representative=rec)
        elif rec["sentence_id"] != group.sentence_id and rec["sentence_id"] not in group.members:
            group.members.append(rec["sentence_id"])
    return list(groups.values()), skipped


def source_name(rec: Mapping[str, Any]) -> str:
    """Where a sentence comes from, for annotators: the record's `source` (an outlet or site
    name), else its URL's host without "www.", else the file it was read from; "" when none.

    Most ingested pages carry a URL and a date but no site name, so `source` alone left
    most tasks showing a date with no source.
    """
    if rec.get("source"):
        return str(rec["source"])
    host = urlsplit(str(rec["url"])).hostname if rec.get("url") else None
    if host:
        return host.removeprefix("www.")
    return PurePath(str(rec["source_path"])).name if rec.get("source_path") else ""


def task_data(group: Group) -> dict[str, Any]:
    """The `data` of one task: text with context, ids and provenance (null display fields -> "").

    `source_line` is what the labeling view shows under the title: source and date.
    """
    rec = group.representative
    source = source_name(rec)
    source_line = " \u00b7 ".join(str(v) for v in (source, rec.get("date")) if v)
    return {
        "text": rec["text"],
        "prev_text": rec.get("prev_text") or "",
        "next_text": rec.get("next_text") or "",
        "title": rec.get("title") or "",
        "source": source,
        "date": rec.get("date") or "",
        "source_line": source_line,
        "sentence_id": rec["sentence_id"],
        "group_id": rec["group_id"],
        "article_id": rec["article_id"],
        "group_members": list(group.members),
        "provenance": {k: rec.get(k) for k in PROVENANCE_FIELDS if rec.get(k) is not None},
    }


def confidence(probs: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
    """How sure the model is about its decisions: the smallest per-tag margin, in [0, 1].

    Per tag, the distance of p from its threshold divided by the room on that side
    (1 - t above, t below), so 0 means "on the threshold" and 1 means p is 0 or 1.
    """
    margins = []
    for tag, t in thresholds.items():
        p = float(probs[tag])
        room = (1.0 - t) if p >= t else t
        margins.append(abs(p - t) / room if room > 0 else 1.0)
    return round(min(margins), 6) if margins else 1.0


def prediction_score(probs: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
    """The `score` Label Studio shows (as a percentage) for a prediction: how sure the model
    is of its least sure tag decision, as a probability in [0.5, 1].

    Each tag's probability is rescaled piecewise-linearly so that its tuned threshold sits at
    0.5 (for a threshold of 0.5 this is the probability of the decision taken, max(p, 1 - p)):
    50% = a coin flip on some tag, 100% = every tag at 0 or 1. It is 0.5 + confidence() / 2, so
    ordering by it is ordering by confidence() (Label Studio's uncertainty sampling and the
    score column serve the lowest first, as `push --next --strategy uncertainty` picks).
    """
    return round(0.5 + 0.5 * confidence(probs, thresholds), 6)


def build_prediction(probs: Mapping[str, float], thresholds: Mapping[str, float], model_version: str) -> dict:
    """A Label Studio prediction: tags at or above their threshold, `score` = prediction_score().

    Raises ValueError naming the tag when a probability is missing.
    """
    missing = [t for t in thresholds if t not in probs]
    if missing:
        raise ValueError(f"prediction lacks probabilities for {', '.join(missing)}")
    chosen = [t for t, thr in thresholds.items() if float(probs[t]) >= thr]
    result = []
    if chosen:
        result.append({"from_name": CONTROL_NAME, "to_name": TARGET_NAME, "type": "choices",
                       "value": {"choices": chosen}})
    return {"model_version": model_version, "score": prediction_score(probs, thresholds), "result": result}


def build_task(group: Group, prediction: dict | None = None) -> dict[str, Any]:
    """A Label Studio import item: {"data": ..., "predictions": [...]} (predictions only when given)."""
    task: dict[str, Any] = {"data": task_data(group)}
    if prediction is not None:
        task["predictions"] = [prediction]
    return task


def select_groups(groups: Sequence[Group], n: int | None, strategy: str,
                  scores: Mapping[str, float] | None = None, seed: int = 0) -> list[Group]:
    """Pick the `n` most useful groups (all when n is None), keeping input order in the result.

    random: a seeded sample. uncertainty: the lowest confidence first; needs `scores`
    (sentence_id -> confidence). uncertainty+diversity: the same order, but at most two
    groups of an article and no two groups saying mostly the same thing
    (labeling.studio.active). Raises ValueError on an unknown strategy, n < 1, or
    uncertainty without scores.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if n is None or n >= len(groups):
        return list(groups)
    if n < 1:
        raise ValueError(f"--next must be at least 1, got {n}")
    if strategy == "random":
        picked = set(random.Random(seed).sample(range(len(groups)), n))
    else:
        if scores is None:
            raise ValueError(f"{strategy} sampling needs model scores: pass --model")
        if strategy == "uncertainty":
            order = sorted(range(len(groups)), key=lambda i: (scores[groups[i].sentence_id], i))
            picked = set(order[:n])
        else:
            reps = [g.representative for g in groups]  # tasks the ML backend reads may lack text or article
            picked = set(select_uncertain_diverse([scores[g.sentence_id] for g in groups], [g.group_id for g in groups],
                                                  [r.get("article_id") for r in reps],
                                                  [r.get("text") or "" for r in reps], n))
    return [g for i, g in enumerate(groups) if i in picked]
