"""Quality benchmark (issues 6, 16): the models trained exactly as `make demo` trains them,
on the gold set, scored on its own test split and on the two real-news dev files (each and
both together); then the student `stance train distil` builds from that fine-tuned model
(configs/distill.yaml).

Training uses data/gold split by configs/dataset.yaml and the shipped configs
(configs/baseline.yaml, configs/finetune.yaml); thresholds come from the gold validation
split. ../shared/dev is read only for scoring, never for training or thresholds.

    python -m tests.bench.run_all --only quality

STANCE_QUALITY_MODEL=models/champion scores that model (e.g. the champion `make demo` exported)
as the finetune row instead of training it again: it must come from the same gold split and
configs. The learning curve (issue 16) comes with this section: the same recipe on 1/8, 1/4 and
1/2 of the training split, the full point being the finetune row (STANCE_QUALITY_CURVE=0 skips it).
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from labeling.config import CONFIG_DIR, PROJECT_ROOT, load_config
from labeling.schema import load_schema
from tests.bench.bench_curve import PLOT, TITLE as CURVE_TITLE, curve_notes, curve_point, plot, train_points
from tests.bench.realnews import load_dev, score_dev, target_notes
from training.cli.common import macro_interval

GOLD = PROJECT_ROOT / "data" / "gold"
TARGET_GOLD_TEST = 0.83


def _row(kind: str, seconds: float, test: dict, dev: dict, tags: list[str]) -> dict:
    row = {"model": kind, "train s": round(seconds) if seconds == seconds else "(given)",
           "gold test macro-F1 [95% CI]": macro_interval(test)}
    for name in ("both", "dev", "dev-articles"):
        row[f"{name} macro-F1 [95% CI]"] = macro_interval(dev[name]) if name in dev else "-"
    both = dev.get("both")
    row["both exact match"] = round(both["exact_match"], 3) if both else "-"
    for tag in tags:
        row[f"both F1 {tag}"] = round(both["per_tag"][tag]["f1"], 3) if both else "-"
    for tag in ("escalation", "denial"):
        arts = dev.get("dev-articles")
        row[f"dev-articles F1 {tag}"] = round(arts["per_tag"][tag]["f1"], 3) if arts else "-"
    return row


def long_sentence_note(scorer, sets: dict[str, list[dict]], tags: list[str], max_length: int,
                       probs: dict[str, np.ndarray] | None = None) -> str:
    """How many sentences of each named set the tokenizer truncates, and whether their tags are found as
    often as on the rest (recall is only given where the truncated sentences carry tags). `probs`: the
    scorer's probabilities for a named set when the caller already has them."""
    from transformers import AutoTokenizer

    from training.labeled import label_matrix
    from training.metrics import exact_match
    from training.preprocess import normalize_text
    from training.thresholds import apply_thresholds

    tok = AutoTokenizer.from_pretrained(str(Path(scorer.model_dir) / "hf"))
    parts = []
    for name, rows in sets.items():
        lengths = np.array([len(tok(normalize_text(r["text"]))["input_ids"]) for r in rows])
        if not (lengths > max_length).any():
            parts.append(f"{name}: none of {len(rows)} (longest {lengths.max()} tokens)")
            continue
        y = label_matrix(rows, tags).astype(bool)
        scored = (probs or {}).get(name)
        if scored is None:
            scored = scorer.predict_proba([r["text"] for r in rows])
        pred = apply_thresholds(scored, scorer.thresholds).astype(bool)
        cut = lengths > max_length

        def found(mask):
            support = y[mask].sum()
            return f"recall {(y & pred)[mask].sum() / support:.3f}" if support else "no tags, so no recall"

        parts.append(f"{name}: {cut.sum()} of {len(rows)} (longest {lengths.max()}), carrying {y[cut].sum()} tags; "
                     f"on them {found(cut)}, {(pred & ~y)[cut].sum()} false tags, exact match "
                     f"{exact_match(y[cut], pred[cut]):.3f}; on the rest {found(~cut)}, exact match "
                     f"{exact_match(y[~cut], pred[~cut]):.3f}")
    return f"truncation (sentences over max_length {max_length} tokens): " + "; ".join(parts)


SLICE_FIELDS = ("kind", "register")
SLICE_TITLE = "Gold test split by slice: where each model fails"


def gold_test_slices(scorer, rows: list[dict], probs: np.ndarray) -> dict[str, dict]:
    """{"field=value": metrics} for each slice of SLICE_FIELDS. The "(none)" slice (parts written before
    `kind` and `register` existed) is listed once, under the first field, as long as it is the same rows
    for every field; should a part ever carry one field and not the other, each field lists its own."""
    from training.evaluate import evaluate_slices

    missing = {field: [r["id"] for r in rows if r.get(field) is None] for field in SLICE_FIELDS}
    same_none = all(ids == missing[SLICE_FIELDS[0]] for ids in missing.values())
    return {f"{field}={name}": m for i, field in enumerate(SLICE_FIELDS)
            for name, m in evaluate_slices(scorer, rows, field, probs=probs).items()
            if name != "(all)" and not (i and name == "(none)" and same_none)}


def slice_table(slices: dict[str, dict[str, dict]], tags: list[str]) -> list[str]:
    """Markdown rows: one per slice of SLICE_FIELDS in the gold test split, the finetune and distil models'
    macro-F1 with 95% intervals and the finetune model's per-tag F1 ("-" where a tag has nothing to score: the
    slice neither holds it nor is given it).
    `slices`: {kind: {"field=value": metrics}}."""
    from training.runs import fmt

    kinds = list(slices)
    head = (["slice", "sentences"] + [f"{k} macro-F1 [95% CI]" for k in kinds]
            + [f"{kinds[0]} F1 {t}" for t in tags])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, first in slices[kinds[0]].items():
        cells = [name, str(first["n"])] + [macro_interval(slices[k][name]) for k in kinds]
        cells += [fmt(first["per_tag"][t]["f1"]) for t in tags]
        out.append("| " + " | ".join(cells) + " |")
    return out


def guide_examples(schema) -> list[tuple[str, set[str], bool]]:
    """The guide's own sentences with the tags it gives them (configs/labels.yaml): each tag's
    examples (that tag at least) and the combinations (exactly the tag set named)."""
    cases = [(text, {tag.name}, False) for tag in schema.tags for text in tag.examples]
    for line in schema.combinations:
        m = re.fullmatch(r'"(.+)" is (.+)\.', line.strip())
        if m:
            cases.append((m.group(1), {t.strip() for t in m.group(2).split("+")}, True))
    return cases


def guide_example_note(scorer, schema) -> str:
    """How many of the guide's own example sentences the model tags as the guide does, and which not."""
    cases = guide_examples(schema)
    decided = scorer.predict_proba([text for text, _, _ in cases]) >= scorer.thresholds
    misses = []
    for (text, want, exact), row in zip(cases, decided):
        got = {t for t, on in zip(scorer.tags, row) if on}  # the model's column order, not the schema's
        if (got != want) if exact else not want <= got:
            misses.append(f'"{text}" -> {", ".join(sorted(got)) or "no tag"} (guide: {" + ".join(sorted(want))})')
    head = (f"guide examples (configs/labels.yaml: each tag's examples must get that tag, the combinations "
            f"exactly their tags): {len(cases) - len(misses)} of {len(cases)} right")
    return head + (f"; missed: {'; '.join(misses)}" if misses else "")


def run(quick: bool = False) -> dict:
    """Train the models on the gold set; returns {"title", "rows", "notes"}."""
    from training.baseline import BaselineConfig
    from training.dataset import DatasetConfig, split_rows
    from training.evaluate import evaluate_scorer
    from training.fit import fit
    from training.finetune import FinetuneConfig
    from training.labeled import load_labeled
    from training.metrics import exact_match
    from training.scoring import load_scorer
    from training.thresholds import apply_thresholds

    schema = load_schema()
    tags = schema.names
    rows = load_labeled(GOLD, tags)
    splits = split_rows(rows, tags, load_config(DatasetConfig, CONFIG_DIR / "dataset.yaml"))
    dev_sets = load_dev(tags)
    fields = {r["id"]: r for r in load_labeled(GOLD, tags, keep=SLICE_FIELDS)}  # the test split's rows, sliceable
    test_sliced = [{**r, **{f: fields[r["id"]][f] for f in SLICE_FIELDS}} for r in splits["test"]]
    short = {"epochs": 1, "progress": False} if quick else {"progress": False}
    results, out_rows, notes, test_tags, slices = {}, [], [], {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        configs = {"baseline": load_config(BaselineConfig, CONFIG_DIR / "baseline.yaml"),
                   "finetune": load_config(FinetuneConfig, CONFIG_DIR / "finetune.yaml", short),
                   # the student learns from the finetune model, trained before it into tmp/finetune
                   "distil": load_config(FinetuneConfig, CONFIG_DIR / "distill.yaml",
                                         {**short, "teacher": str(Path(tmp) / "finetune")})}
        given = os.environ.get("STANCE_QUALITY_MODEL")
        for kind, cfg in configs.items():
            if kind == "finetune" and given:
                from training.registry import load_model

                scorer, seconds, epochs = load_model(given).scorer, float("nan"), 0
                configs["distil"] = configs["distil"].model_copy(update={"teacher": str(scorer.model_dir)})
            else:
                result = fit(kind, splits["train"], splits["validation"], tags, cfg, Path(tmp) / kind)
                scorer, seconds, epochs = load_scorer(result.model_dir), result.train_seconds, len(result.history)
            test_probs = scorer.predict_proba([r["text"] for r in splits["test"]])
            test = evaluate_scorer(scorer, splits["test"], probs=test_probs)[0]
            test_tags[kind] = apply_thresholds(test_probs, scorer.thresholds)
            if kind != "baseline":
                slices[kind] = gold_test_slices(scorer, test_sliced, test_probs)
            on_dev = score_dev(scorer, dev_sets)
            results[kind] = (test, on_dev)
            out_rows.append(_row(kind, seconds, test, on_dev, tags))
            if kind == "finetune":
                full = curve_point(1.0, len(splits["train"]), seconds, epochs, test, on_dev)
                notes.append(guide_example_note(scorer, schema))
                named = {"gold test": splits["test"], **({"both dev files": dev_sets["both"]} if dev_sets else {})}
                notes.append(long_sentence_note(scorer, named, tags, cfg.max_length, {"gold test": test_probs}))
        curve = []
        if os.environ.get("STANCE_QUALITY_CURVE", "1") != "0":
            shares = (1 / 8, 1 / 4) if quick else (1 / 8, 1 / 4, 1 / 2)
            curve = train_points(splits, dev_sets, configs["finetune"], tags, shares, Path(tmp)) + [full]
            plot([p for _, p in curve], PLOT)
    notes.insert(0, f"gold set: {len(rows)} sentences in data/gold, split "
                 f"{', '.join(f'{k} {len(v)}' for k, v in splits.items())} (grouped by duplicate group and article)")
    if dev_sets:
        notes.insert(1, f"dev: {', '.join(f'{k} {len(v)}' for k, v in dev_sets.items())} real-news sentences "
                     "(../shared/dev), never used for training or thresholds; the recipe is chosen on gold (once, "
                     "where gold tied, these files broke the tie: README, 'The recipe')")
        fine_test = results["finetune"][0]["macro_f1"]
        notes.append(f"finetune, gold test: macro-F1 {fine_test:.3f} (target >= {TARGET_GOLD_TEST}: "
                     f"{'met' if fine_test >= TARGET_GOLD_TEST else f'NOT met, short by {TARGET_GOLD_TEST - fine_test:.3f}'})")
        notes += target_notes("finetune (the demo's champion recipe)", results["finetune"][1], tags)
        fine, student = results["finetune"][1]["both"]["macro_f1"], results["distil"][1]["both"]["macro_f1"]
        notes.append(f"distil: the {configs['distil'].num_layers}-layer student of the finetune row (stance train "
                     f"distil): both dev files {student:.3f}, {student - fine:+.3f} vs its teacher "
                     f"(target: within 0.02: {'met' if student >= fine - 0.02 else 'NOT met'}); the teacher's tag set "
                     f"on {exact_match(test_tags['finetune'], test_tags['distil']):.1%} of the gold test sentences; "
                     "speed in the predict section")
    else:
        notes.append("../shared/dev not present: dev figures skipped")
    if quick:
        notes.append("quick run: 1 fine-tuning epoch, figures are not the shipped model's")
    extra = [f"### {SLICE_TITLE}", ""] + slice_table(slices, tags) + [
        "", "- the gold test split of the quality table, cut by the rows' `kind` and `register` fields ((none): "
        "parts written before those fields existed); the same figures for any model and file: "
        "`stance evaluate MODEL FILE --by kind --by register`", ""]
    if curve:
        keys = list(curve[0][0])
        extra += [f"### {CURVE_TITLE}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        extra += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r, _ in curve] + [""]
        extra += [f"- {n}" for n in curve_notes([p for _, p in curve], configs["finetune"], splits)] + [""]
    return {"title": "Quality: models trained on the gold set, scored on real news", "rows": out_rows, "notes": notes,
            "extra": extra}
