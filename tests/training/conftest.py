"""Tiny labeled data built inline: template sentences whose tags a bag of n-grams can learn."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

TAGS = ["escalation", "de-escalation", "accusation", "denial"]

ACTORS = ["Russia", "NATO", "China", "the United States", "Iran", "the EU", "Turkey", "India"]
PHRASES = {
    "escalation": ["threatened to deploy troops near", "warned of missile strikes on", "imposed new sanctions on"],
    "de-escalation": ["agreed to resume talks with", "proposed a ceasefire with", "signed a trade deal with"],
    "accusation": ["accused", "blamed", "condemned the aggressive conduct of"],
    "denial": ["denied reports of a plot by", "rejected as baseless the claims about", "dismissed allegations against"],
    None: ["held a routine meeting in Geneva with", "published its annual budget alongside", "hosted a football match with"],
}


def make_rows(n: int = 80, seed: int = 0, prefix: str = "r") -> list[dict]:
    """n labeled rows; every 4th row has a near-duplicate partner sharing its group_id."""
    rng = random.Random(seed)
    keys = list(PHRASES)
    rows = []
    for i in range(n):
        tag = keys[i % len(keys)]
        labels = [] if tag is None else [tag]
        a, b = rng.sample(ACTORS, 2)
        text = f"{a} {rng.choice(PHRASES[tag])} {b}."
        if tag == "accusation" and i % 3 == 0:
            text = f"{a} accused {b} and threatened to deploy troops near its border."
            labels = ["escalation", "accusation"]
        group = f"g-{i // 2}" if i % 4 < 2 else f"g-solo-{i}"
        rows.append({"id": f"{prefix}{i}", "text": text, "labels": labels, "group_id": group,
                     "article_id": f"a-{i // 3}"})
    return rows


@pytest.fixture
def tags() -> list[str]:
    return list(TAGS)


@pytest.fixture
def rows() -> list[dict]:
    return make_rows()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def labeled_file(tmp_path, rows) -> Path:
    return write_jsonl(tmp_path / "labeled.jsonl", rows)
