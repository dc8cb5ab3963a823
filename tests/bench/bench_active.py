"""Active learning measured (issue 13): simulated annotators on the gold set.

The pool is the gold training split (the grouped split of configs/dataset.yaml; validation
and test are never drawn from). Each seed starts from 100 random pool sentences; each round
adds 50 chosen by one strategy and retrains the TF-IDF baseline:

- random: 50 unlabeled sentences at random;
- uncertainty: the 50 least confident (labeling.studio.tasks.confidence: the smallest
  per-tag margin from the tuned threshold, the score `stance label push --next` sorts on);
- uncertainty+diversity: the shipped strategy (labeling.studio.active.pick_diverse).

Fast baseline settings, the same for every strategy, every round and the full-data
reference: the baseline's word and character features (training/baseline.py) fitted once
on the pool's text (unlabeled text is there for the taking), its classifier at the config's
default C (no per-round C search), per-tag thresholds tuned on the validation split. Each
round is scored by macro-F1 on the gold test split and on both real-news dev files together
(../shared/dev, when present: scored only, never trained or tuned on). The full-data
reference is the same baseline trained on the whole pool in this run; the table gives the
labels each strategy needed to first reach 95% of its score (mean and range over the seeds).
Plot: docs/active-learning.png.

    python -m tests.bench.run_all --only active
"""
from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labeling.config import CONFIG_DIR, PROJECT_ROOT, load_config
from labeling.io import atomic_path
from labeling.schema import load_schema
from labeling.studio.active import pick_diverse, stem_sets, uncertainty_order
from labeling.studio.tasks import STRATEGIES, confidence
from tests.bench.realnews import load_dev

GOLD = PROJECT_ROOT / "data" / "gold"
SAMPLE = PROJECT_ROOT / "data" / "sample" / "articles"
PLOT = PROJECT_ROOT / "docs" / "active-learning.png"
TITLE = "Active learning: labels needed by the queue's strategies (simulated annotators, gold set)"
START, BATCH, SHARE = 100, 50, 0.95
MAX_LABELS, SEEDS = 5000, (0, 1, 2)  # sized by a measurement: the section's CPU time is in its notes
QUICK_MAX_LABELS, QUICK_SEEDS = 400, (0,)
EVALS = {"test": "gold test split", "dev": "real news: both dev files"}
COLORS = {"random": "tab:grey", "uncertainty": "tab:blue", "uncertainty+diversity": "tab:orange"}


@dataclass
class Bench:
    """The pool's features, labels and diversity keys; the sets every round is scored on."""

    tags: list[str]
    cfg: Any  # training.baseline.BaselineConfig
    features: Any  # the baseline's feature union, fitted on the pool's text
    x: Any  # pool features (sparse)
    y: np.ndarray
    groups: list[str]
    articles: list[str]
    stems: list[frozenset[str]]
    x_val: Any
    y_val: np.ndarray
    evals: dict[str, tuple[Any, np.ndarray]]  # name -> (features, labels)


def prepare() -> tuple[Bench, dict[str, int]]:
    """Load and split the gold set, fit the features on the pool; returns (bench, sizes)."""
    from training.baseline import BaselineConfig, build_pipeline
    from training.dataset import DatasetConfig, split_rows
    from training.labeled import label_matrix, load_labeled
    from training.preprocess import normalize_text

    tags = load_schema().names
    splits = split_rows(load_labeled(GOLD, tags), tags, load_config(DatasetConfig, CONFIG_DIR / "dataset.yaml"))
    cfg = load_config(BaselineConfig, CONFIG_DIR / "baseline.yaml")
    texts = lambda rows: [normalize_text(r["text"]) for r in rows]
    pool = splits["train"]
    features = build_pipeline(cfg, cfg.default_c).named_steps["features"]
    x = features.fit_transform(texts(pool))
    sets = {"test": splits["test"]}
    dev = load_dev(tags)
    if dev:
        sets["dev"] = dev["both"]
    bench = Bench(tags=tags, cfg=cfg, features=features, x=x, y=label_matrix(pool, tags), groups=[r["group_id"] for r in pool],
                  articles=[r["article_id"] for r in pool], stems=stem_sets([r["text"] for r in pool]),
                  x_val=features.transform(texts(splits["validation"])), y_val=label_matrix(splits["validation"], tags),
                  evals={k: (features.transform(texts(rows)), label_matrix(rows, tags)) for k, rows in sets.items()})
    return bench, {"pool": len(pool), "validation": len(splits["validation"]), **{k: len(r) for k, r in sets.items()}}


def train_round(b: Bench, labeled: np.ndarray) -> tuple[Any, np.ndarray]:
    """The baseline's classifier on the labeled pool rows, thresholds tuned on validation."""
    from training.baseline import build_pipeline
    from training.thresholds import tune_thresholds

    clf = build_pipeline(b.cfg, b.cfg.default_c).named_steps["clf"]
    with warnings.catch_warnings():
        # a tag absent from the first 100 labels is predicted as constant 0 until one arrives
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        clf.fit(b.x[labeled], b.y[labeled])
    return clf, tune_thresholds(b.y_val, clf.predict_proba(b.x_val))


def scores(b: Bench, clf: Any, thresholds: np.ndarray) -> dict[str, float]:
    """Macro-F1 on each evaluation set."""
    from training.metrics import micro_macro_f1
    from training.thresholds import apply_thresholds

    return {k: micro_macro_f1(y, apply_thresholds(clf.predict_proba(x), thresholds))[1] for k, (x, y) in b.evals.items()}


def next_batch(b: Bench, strategy: str, clf: Any, thresholds: np.ndarray, labeled: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Pool positions of the next BATCH sentences to label, chosen by `strategy`, and how many
    of them are not among the BATCH least confident (what diversity changed; 0 for the others)."""
    unlabeled = np.flatnonzero(~labeled)
    if strategy == "random":
        return rng.choice(unlabeled, min(BATCH, len(unlabeled)), replace=False), 0
    cut = dict(zip(b.tags, thresholds.tolist()))
    conf = [confidence(dict(zip(b.tags, p)), cut) for p in clf.predict_proba(b.x[unlabeled]).tolist()]
    order = unlabeled[uncertainty_order(conf)]
    if strategy == "uncertainty":
        return order[:BATCH], 0
    if strategy != "uncertainty+diversity":
        raise ValueError(f"the active-learning bench does not simulate strategy {strategy!r} yet")
    batch = np.asarray(pick_diverse(order, b.groups, b.articles, b.stems, BATCH), dtype=int)
    return batch, len(set(batch.tolist()) - set(order[:BATCH].tolist()))


def simulate(b: Bench, strategy: str, seed: int, max_labels: int) -> list[dict[str, float]]:
    """One annotator run: [{"n": labels, "test": macro-F1, "dev": ..., "changed": picks diversity
    changed in the batch that follows}] per round, START to max_labels."""
    rng = np.random.default_rng(seed)
    labeled = np.zeros(len(b.y), dtype=bool)
    labeled[rng.choice(len(b.y), START, replace=False)] = True  # the same start for every strategy of a seed
    curve = []
    while True:
        clf, thresholds = train_round(b, labeled)
        curve.append({"n": int(labeled.sum()), **scores(b, clf, thresholds), "changed": 0})
        if labeled.sum() >= max_labels or labeled.all():
            return curve
        batch, curve[-1]["changed"] = next_batch(b, strategy, clf, thresholds, labeled, rng)
        labeled[batch] = True


def labels_to_reach(curve: list[dict], key: str, target: float) -> int | None:
    """Labels at the first round scoring `target` or more (None: never within the run)."""
    return next((p["n"] for p in curve if p[key] >= target), None)


def reach_cell(curves: list[list[dict]], key: str, target: float, max_labels: int) -> str:
    """'mean [min, max]' over seeds of labels_to_reach; a seed that never reached counts as > max."""
    reached = [labels_to_reach(c, key, target) for c in curves]
    if all(r is None for r in reached):
        return f"> {max_labels:,} (no seed)"
    got = [r for r in reached if r is not None]
    cell = f"{np.mean(got):,.0f} [{min(got):,}, {max(got):,}]"
    return cell if len(got) == len(reached) else f"{cell}; {len(reached) - len(got)} of {len(reached)} seeds > {max_labels:,}"


def mean_at(curves: list[list[dict]], key: str, n: int) -> str:
    values = [p[key] for c in curves for p in c if p["n"] == n]
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-"


def plot(runs: dict[str, list[list[dict]]], reference: dict[str, float], path: Path) -> None:
    """Macro-F1 against labels, mean and min-max band over seeds per strategy, one panel per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in EVALS if k in reference]
    fig, axes = plt.subplots(1, len(keys), figsize=(6.2 * len(keys), 4.4), dpi=110, squeeze=False)
    for ax, key in zip(axes[0], keys):
        for strategy, curves in runs.items():
            rounds = min(len(c) for c in curves)
            n = [p["n"] for p in curves[0][:rounds]]
            values = np.array([[p[key] for p in c[:rounds]] for c in curves])
            ax.plot(n, values.mean(axis=0), color=COLORS.get(strategy), label=strategy)
            ax.fill_between(n, values.min(axis=0), values.max(axis=0), color=COLORS.get(strategy), alpha=0.2, lw=0)
        ax.axhline(reference[key], color="black", lw=0.8, label=f"all {reference['n']:,} pool labels")
        ax.axhline(SHARE * reference[key], color="black", lw=0.8, ls="--", label=f"{SHARE:.0%} of it")
        ax.set_title(EVALS[key])
        ax.set_xlabel("labeled sentences")
        ax.set_ylabel("macro-F1 (TF-IDF baseline)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Active learning on the gold pool: mean and min-max of {len(next(iter(runs.values())))} seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def queue_batches(b: Bench, clf: Any, thresholds: np.ndarray, n: int = BATCH) -> list[str]:
    """What `stance label push --next n` hands annotators from the ingested sample articles,
    scored by the full-data baseline: articles, sentences of the busiest article and pairs
    saying mostly the same thing (content-stem Jaccard >= MAX_JACCARD) in the batch, per strategy.
    Lines of a markdown table (empty when data/sample/articles is missing)."""
    import tempfile

    from labeling.ingest.pipeline import DEFAULT_CONFIG, IngestOptions, run_ingest
    from labeling.io import read_jsonl
    from labeling.studio.active import MAX_JACCARD
    from labeling.studio.tasks import group_sentences, select_groups
    from training.preprocess import normalize_text

    if not SAMPLE.is_dir():
        return []
    with tempfile.TemporaryDirectory(prefix="bench-active-") as tmp:
        run_ingest([str(SAMPLE)], Path(tmp) / "sentences.jsonl", load_config(IngestOptions, DEFAULT_CONFIG))
        records = [(f"sentences.jsonl:{line}", rec) for line, rec in read_jsonl(Path(tmp) / "sentences.jsonl")]
    groups, _ = group_sentences(records)
    probs = clf.predict_proba(b.features.transform([normalize_text(g.representative["text"]) for g in groups]))
    cut = dict(zip(b.tags, thresholds.tolist()))
    conf = {g.sentence_id: confidence(dict(zip(b.tags, p)), cut) for g, p in zip(groups, probs.tolist())}
    lines = [f"### The queue on ingested news: `push --next {n}` over data/sample/articles", "",
             f"| strategy | tasks | articles | sentences of the busiest article | pairs with Jaccard >= {MAX_JACCARD} "
             "| duplicate groups twice | mean confidence |", "|---|---|---|---|---|---|---|"]
    for strategy in STRATEGIES:
        batch = select_groups(groups, n, strategy, conf, seed=0)
        per_article = Counter(g.representative["article_id"] for g in batch)
        stems = stem_sets([g.representative["text"] for g in batch])
        close = sum(len(a & c) >= MAX_JACCARD * len(a | c) > 0 for i, a in enumerate(stems) for c in stems[i + 1:])
        twice = len(batch) - len({g.group_id for g in batch})
        lines.append(f"| {strategy} | {len(batch)} | {len(per_article)} | {max(per_article.values())} | {close} | {twice} "
                     f"| {np.mean([conf[g.sentence_id] for g in batch]):.3f} |")
    return lines + ["", f"- {len(groups)} tasks from {len({g.representative['article_id'] for g in groups})} articles "
                    "(stance ingest, default settings); scores: the full-data reference model's confidence", ""]


def run(quick: bool = False) -> dict:
    """Simulate every strategy for every seed; returns {"title", "rows", "notes", "extra"}."""
    max_labels, seeds = (QUICK_MAX_LABELS, QUICK_SEEDS) if quick else (MAX_LABELS, SEEDS)
    started, cpu_started = time.perf_counter(), time.process_time()
    b, sizes = prepare()
    full = np.ones(len(b.y), dtype=bool)
    clf, thresholds = train_round(b, full)
    reference = {"n": int(full.sum()), **scores(b, clf, thresholds)}
    queue = queue_batches(b, clf, thresholds)
    runs: dict[str, list[list[dict]]] = {s: [] for s in STRATEGIES}
    seconds: dict[str, float] = {}
    for strategy in STRATEGIES:
        t0 = time.perf_counter()
        runs[strategy] = [simulate(b, strategy, seed, max_labels) for seed in seeds]
        seconds[strategy] = time.perf_counter() - t0
    plot(runs, reference, PLOT)
    keys = [k for k in EVALS if k in reference]
    rows = []
    for strategy, curves in runs.items():
        row = {"strategy": strategy}
        for key in keys:
            row[f"labels to {SHARE:.0%} of full, {EVALS[key]}"] = reach_cell(curves, key, SHARE * reference[key], max_labels)
        for key in keys:
            row[f"macro-F1 at {max_labels:,} labels, {EVALS[key]}"] = mean_at(curves, key, max_labels)
        row["simulation s"] = round(seconds[strategy])
        rows.append(row)
    diverse = runs["uncertainty+diversity"]
    changed = sum(p["changed"] for c in diverse for p in c) / max(1, sum(BATCH for c in diverse for _ in c[:-1]))
    multi = sum(1 for v in Counter(b.groups).values() if v > 1)
    per_article = Counter(b.articles)
    marks = sorted({START, 500, 1000, 2000, 3000, 4000, max_labels} & {p["n"] for p in runs["random"][0]})
    extra = [f"### Macro-F1 by labels (mean ± sd of {len(seeds)} seeds)", "",
             "| strategy | set | " + " | ".join(f"{n:,}" for n in marks) + f" | all {reference['n']:,} |",
             "|" + "---|" * (len(marks) + 3)]
    for strategy, curves in runs.items():
        for key in keys:
            extra.append(f"| {strategy} | {EVALS[key]} | " + " | ".join(mean_at(curves, key, n) for n in marks)
                         + f" | {reference[key]:.3f} |")
    notes = [
        f"pool: the gold training split ({sizes['pool']:,} sentences); never drawn from: validation "
        f"({sizes['validation']:,}, thresholds only) and test ({sizes['test']:,})"
        + (f"; dev: both real-news files together ({sizes['dev']} sentences, scored only)" if "dev" in sizes else
           "; ../shared/dev not present: dev columns skipped"),
        f"start {START} random pool sentences (the same for every strategy of a seed), then batches of {BATCH} up to "
        f"{max_labels:,}; seeds {', '.join(map(str, seeds))}; the baseline retrained every round",
        f"full-data reference (same fast settings, the whole pool): "
        + "; ".join(f"{EVALS[k]} {reference[k]:.3f} ({SHARE:.0%}: {SHARE * reference[k]:.3f})" for k in keys),
        f"fast baseline settings, the same everywhere: features fitted once on the pool's text, C = {b.cfg.default_c:g} "
        f"(no C search), thresholds tuned on the validation split each round",
        "uncertainty+diversity: least confident first, never two members of a near-duplicate group, at most 2 "
        "sentences of an article and no two with content-stem Jaccard >= 0.5 in one batch (labeling/studio/active.py)",
        "labels to 95%: the first round at or above 95% of the full-data score, mean [min, max] over seeds",
        f"what diversity changed on this pool: {changed:.1%} of the uncertainty+diversity picks were not among the "
        f"batch's {BATCH} least confident; the pool holds {multi} duplicate groups of two or more sentences and its "
        f"articles are short (sentences an article: median {np.median(list(per_article.values())):g}, largest "
        f"{max(per_article.values())}); the queue table below shows the strategy on ingested articles",
        f"plot: [docs/active-learning.png](active-learning.png); whole section {time.perf_counter() - started:.0f} s "
        f"wall, {time.process_time() - cpu_started:.0f} s of CPU (the work is single-threaded: about the wall time "
        "on an idle machine; the rounds are sized to ~10 minutes of it)",
    ]
    if quick:
        notes.append(f"quick run: one seed, up to {max_labels} labels")
    return {"title": TITLE, "rows": rows, "notes": notes, "extra": extra + [""] + queue}
