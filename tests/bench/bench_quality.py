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
from tests.bench.realnews import interval, load_dev, score_dev, target_notes

GOLD = PROJECT_ROOT / "data" / "gold"
TARGET_GOLD_TEST = 0.83


def _row(kind: str, seconds: float, test: dict, dev: dict, tags: list[str]) -> dict:
    row = {"model": kind, "train s": round(seconds) if seconds == seconds else "(given)",
           "gold test macro-F1 [95% CI]": interval(test)}
    for name in ("both", "dev", "dev-articles"):
        row[f"{name} macro-F1 [95% CI]"] = interval(dev[name]) if name in dev else "-"
    both = dev.get("both")
    row["both exact match"] = round(both["exact_match"], 3) if both else "-"
    for tag in tags:
        row[f"both F1 {tag}"] = round(both["per_tag"][tag]["f1"], 3) if both else "-"
    for tag in ("escalation", "denial"):
        arts = dev.get("dev-articles")
        row[f"dev-articles F1 {tag}"] = round(arts["per_tag"][tag]["f1"], 3) if arts else "-"
    return row


def long_sentence_note(scorer, rows: list[dict], tags: list[str], max_length: int) -> str:
    """How many sentences the tokenizer truncates, and whether their tags are found as often."""
    from transformers import AutoTokenizer

    from training.evaluate import evaluate_scorer

    tok = AutoTokenizer.from_pretrained(str(Path(scorer.model_dir) / "hf"))
    lengths = np.array([len(tok(r["text"])["input_ids"]) for r in rows])
    long = [r for r, n in zip(rows, lengths) if n > max_length]
    short = [r for r, n in zip(rows, lengths) if n <= max_length]
    if not long:
        return f"no dev sentence exceeds max_length {max_length} tokens"
    m_long, m_short = evaluate_scorer(scorer, long, n_boot=10)[0], evaluate_scorer(scorer, short, n_boot=10)[0]
    rec = lambda m: sum(m["per_tag"][t]["tp"] for t in tags) / max(1, sum(m["per_tag"][t]["support"] for t in tags))
    return (f"truncation: {len(long)} of {len(rows)} dev sentences exceed max_length {max_length} tokens "
            f"(longest {lengths.max()}); tag recall on them {rec(m_long):.3f} vs {rec(m_short):.3f} on the rest, "
            f"exact match {m_long['exact_match']:.3f} vs {m_short['exact_match']:.3f}")


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
    short = {"epochs": 1, "progress": False} if quick else {"progress": False}
    results, out_rows, notes, test_tags = {}, [], [], {}
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
            on_dev = score_dev(scorer, dev_sets)
            results[kind] = (test, on_dev)
            out_rows.append(_row(kind, seconds, test, on_dev, tags))
            if kind == "finetune":
                full = curve_point(1.0, len(splits["train"]), seconds, epochs, test, on_dev)
                notes.append(guide_example_note(scorer, schema))
                if dev_sets:
                    notes.append(long_sentence_note(scorer, dev_sets["both"], tags, cfg.max_length))
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
    extra = []
    if curve:
        keys = list(curve[0][0])
        extra = [f"### {CURVE_TITLE}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        extra += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r, _ in curve] + [""]
        extra += [f"- {n}" for n in curve_notes([p for _, p in curve], configs["finetune"], splits)] + [""]
    return {"title": "Quality: models trained on the gold set, scored on real news", "rows": out_rows, "notes": notes,
            "extra": extra}
