"""Label quality of the gold set: agreement between its labels and a second, independent labeling.

Input: `data/agreement/second-labeling.jsonl`, one row per re-labeled sentence:
`id`, `part`, `gold` (the gold labels when the sample was drawn), `second` (the second
labeler's), `labeler` and, once disagreements are settled, `adjudicated` (the labels the
gold set now carries). Krippendorff's alpha per tag comes from the project's own agreement
code (labeling.studio.agreement), gold and the second labeler read as two annotators.

    python -m labeling.gold_agreement data/agreement/second-labeling.jsonl
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from labeling.io import read_jsonl
from labeling.schema import load_schema
from labeling.studio.agreement import compute_agreement


def agreement_rows(rows: Sequence[dict[str, Any]], tags: Sequence[str]) -> dict[str, dict[str, float]]:
    """{"all" and each part: {tag and "overall": alpha, "exact": share of identical tag sets, "n"}}."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups["all"].append(r)
        groups[str(r.get("part", "?"))].append(r)
    out = {}
    for name, members in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        annotations = [{"id": r["id"], "annotator": "gold", "labels": r["gold"]} for r in members]
        annotations += [{"id": r["id"], "annotator": "second", "labels": r["second"]} for r in members]
        alpha = compute_agreement(annotations, tags).alpha
        exact = sum(set(r["gold"]) == set(r["second"]) for r in members) / len(members)
        out[name] = {**alpha, "exact": exact, "n": len(members)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="second-labeling JSONL (id, part, gold, second)")
    args = parser.parse_args(argv)
    tags = load_schema().names
    rows = [r for _, r in read_jsonl(args.file)]
    table = agreement_rows(rows, tags)
    print("| sample | sentences | exact | " + " | ".join(f"alpha {t}" for t in tags) + " | alpha overall |")
    print("|---|---|---|" + "---|" * (len(tags) + 1))
    for name, m in table.items():
        cells = " | ".join("n/a" if m[t] != m[t] else f"{m[t]:.2f}" for t in [*tags, "overall"])
        print(f"| {name} | {m['n']} | {m['exact']:.2f} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
