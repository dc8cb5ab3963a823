"""Learning curve (issue 16): does more gold data pay? The fine-tuned model, same recipe
(configs/finetune.yaml), trained on 1/8, 1/4, 1/2 and all of the gold training split (whole
articles and duplicate groups drawn at random), scored on the gold test split and on the
real-news dev files. Writes the table here and a plot to docs/learning-curve.png.

    python -m tests.bench.run_all --only curve
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from labeling.config import CONFIG_DIR, PROJECT_ROOT, load_config
from labeling.schema import load_schema
from tests.bench.bench_recipe import subsample
from tests.bench.realnews import load_dev, score_dev
from training.cli.common import macro_interval

GOLD = PROJECT_ROOT / "data" / "gold"
PLOT = PROJECT_ROOT / "docs" / "learning-curve.png"
FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0)
TITLE = "Learning curve: real-news quality against the amount of gold data"


def plot(points: list[dict], path: Path) -> None:
    """Macro-F1 against training sentences (log scale), one line per evaluation set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    x = [p["n"] for p in points]
    for key, label, style in (("gold_test", "gold test split", "o-"), ("both", "real news: both dev files", "s-"),
                              ("dev", "real news: dev.jsonl", "^--"), ("dev-articles", "real news: dev-articles.jsonl", "v--")):
        if all(key in p for p in points):
            ax.plot(x, [p[key] for p in points], style, label=label)
    ax.axhline(0.80, color="grey", lw=0.8, ls=":", label="target on both dev files (0.80)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{n:,}" for n in x])
    ax.set_xlabel("training sentences (fine-tuned MiniLM, same recipe)")
    ax.set_ylabel("macro-F1")
    ax.set_ylim(max(0.0, min(min(p.get(k, 1) for k in ("gold_test", "both", "dev", "dev-articles")) for p in points) - 0.05), 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside the lines, never on them
    ax.set_title("Learning curve")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def curve_point(share: float, n: int, seconds: float, epochs: int, test: dict, dev: dict) -> tuple[dict, dict]:
    """(table row, plot point) of one model on the curve."""
    point = {"n": n, "gold_test": test["macro_f1"], **{k: m["macro_f1"] for k, m in dev.items()}}
    row = {"share of train split": f"{share:g}" if share >= 1 else f"1/{round(1 / share)}",
           "train sentences": n, "epochs run": epochs or "-", "train s": round(seconds) if seconds == seconds else "-",
           "gold test macro-F1 [95% CI]": macro_interval(test)}
    for name in ("both", "dev", "dev-articles"):
        row[f"{name} macro-F1 [95% CI]"] = macro_interval(dev[name]) if name in dev else "-"
    return row, point


def train_points(splits: dict, dev_sets: dict, cfg, tags: list[str], shares, tmp: Path) -> list[tuple[dict, dict]]:
    """Train the recipe on each share of the training split (whole clusters drawn at random)."""
    from training.evaluate import evaluate_scorer
    from training.fit import fit
    from training.scoring import load_scorer

    out = []
    for i, share in enumerate(shares):
        train = subsample(splits["train"], round(len(splits["train"]) * share), seed=cfg.seed)
        result = fit("finetune", train, splits["validation"], tags, cfg, tmp / f"curve-{i}")
        scorer = load_scorer(result.model_dir)
        out.append(curve_point(share, len(train), result.train_seconds, len(result.history),
                               evaluate_scorer(scorer, splits["test"])[0], score_dev(scorer, dev_sets)))
    return out


def curve_notes(points: list[dict], cfg, splits: dict) -> list[str]:
    notes = [f"same recipe for every row (configs/finetune.yaml, seed {cfg.seed}); the validation split "
             f"({len(splits['validation'])} sentences) and test split ({len(splits['test'])}) are the full ones",
             "plot: [docs/learning-curve.png](learning-curve.png)"]
    if len(points) >= 2 and "both" in points[-1]:
        gain = points[-1]["both"] - points[-2]["both"]
        notes.append(f"last doubling of the data: {gain:+.3f} macro-F1 on both dev files "
                     f"({'still rising: more data of these kinds should pay' if gain > 0.01 else 'flat: more of the same data is unlikely to pay; new kinds of text or a larger backbone are the next step'})")
    return notes


def run(quick: bool = False) -> dict:
    """Train on growing shares of the training split; returns {"title", "rows", "notes"}."""
    from training.dataset import DatasetConfig, split_rows
    from training.finetune import FinetuneConfig
    from training.labeled import load_labeled

    tags = load_schema().names
    splits = split_rows(load_labeled(GOLD, tags), tags, load_config(DatasetConfig, CONFIG_DIR / "dataset.yaml"))
    dev_sets = load_dev(tags)
    cfg = load_config(FinetuneConfig, CONFIG_DIR / "finetune.yaml", {"progress": False, **({"epochs": 1} if quick else {})})
    with tempfile.TemporaryDirectory(prefix="bench-curve-") as tmp:
        done = train_points(splits, dev_sets, cfg, tags, FRACTIONS[:2] if quick else FRACTIONS, Path(tmp))
    plot([p for _, p in done], PLOT)
    notes = curve_notes([p for _, p in done], cfg, splits) + (["quick run: 1 epoch and two shares only"] if quick else [])
    return {"title": TITLE, "rows": [r for r, _ in done], "notes": notes}
