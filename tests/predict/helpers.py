"""Helpers and tiny inline data for the predictor tests."""
from __future__ import annotations

import json
from pathlib import Path

TAGS = ["escalation", "de-escalation", "accusation", "denial"]

_EXAMPLES = {
    "escalation": [
        "The army threatened to strike the border towns within days.",
        "Officials warned that troops were massing near the frontier.",
        "The government announced new sanctions and expelled two diplomats.",
        "Missiles will be deployed closer to the border, the minister warned.",
    ],
    "de-escalation": [
        "Both sides agreed to restore dialogue and hold talks next month.",
        "The ministers signed a ceasefire agreement in Geneva.",
        "Troops began to withdraw from the contested area after the deal.",
        "The president proposed talks to ease the tension.",
    ],
    "accusation": [
        "The foreign ministry accused its neighbour of violating the treaty.",
        "He blamed the alliance for its aggressive and irresponsible policy.",
        "Officials accused the rebels of shelling civilian areas.",
        "The envoy criticised the double standards of the western powers.",
    ],
    "denial": [
        "The Kremlin denied the reports as baseless.",
        "The ministry rejected the allegation and dismissed the reports.",
        "Officials denied any responsibility for the attack.",
        "The spokesman refuted claims that troops had crossed the border.",
    ],
    None: [
        "The meeting took place in Stockholm on Tuesday.",
        "The weather was mild and the delegates arrived by train.",
        "The conference hall was decorated with flags.",
        "Reporters gathered outside the building in the morning.",
    ],
}


def labeled_rows() -> list[dict]:
    """Sixty tiny labeled rows (each example three times, in separate articles)."""
    rows = []
    for copy in range(3):
        for tag, texts in _EXAMPLES.items():
            for i, text in enumerate(texts):
                rid = f"{tag or 'none'}-{i}-{copy}"
                rows.append({"id": rid, "text": text, "labels": [tag] if tag else [],
                             "group_id": f"g-{tag}-{i}", "article_id": f"a-{copy}-{i}"})
    return rows


def write_jsonl(path: Path, records: list) -> Path:
    """Write records (dicts, or raw strings for deliberately broken lines) as JSONL."""
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write((rec if isinstance(rec, str) else json.dumps(rec)) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    """All records of a JSONL file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
