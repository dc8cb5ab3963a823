"""Recipe selection (issue 16): fine-tuning recipes compared by grouped K-fold CV on the gold set.

Each candidate is a change of configs/finetune.yaml (the lower layers frozen or trained, frozen vs
trained embeddings, max_length 80 vs 128, learning rate, class-weighted loss or not); each
(candidate, seed) is one tracked MLflow CV run in the experiment `stance-recipe` of the project's
store (tags `recipe`, `seed`), so the comparison can be opened in the MLflow UI. The winner is the
best mean CV macro-F1; the leader is re-run with two more seeds, to show how much of a gap is seed
noise. The real-news dev files are never read here (they only confirm the shipped model, in the quality section).

CPU budget: 2 cores train ~40 sentences/s, so the comparison runs on a grouped subsample of
the gold set with capped epochs (STANCE_RECIPE_ROWS, STANCE_RECIPE_EPOCHS, STANCE_RECIPE_FOLDS);
the notes give the sizes used.

    python -m tests.bench.run_all --only recipe
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from labeling.config import CONFIG_DIR, PROJECT_ROOT, load_config
from labeling.schema import load_schema

GOLD = Path(os.environ.get("STANCE_RECIPE_GOLD", PROJECT_ROOT / "data" / "gold"))
FOLD_SEED = 13
CANDIDATES: dict[str, dict[str, Any]] = {
    "shipped config": {},
    # freeze_layers > 0 freezes the embeddings too: trained embeddings need every layer trained
    "every layer trained": {"freeze_layers": 0},
    "trained embeddings": {"freeze_embeddings": False, "freeze_layers": 0},
    "max_length 128": {"max_length": 128},
    "learning rate 2e-4": {"learning_rate": 2e-4},
    "unweighted loss": {"class_weight": "none"},
    "one learning rate 1e-4": {"layer_lr_decay": 1.0, "learning_rate": 1e-4},
}


def subsample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """About `n` rows drawn as whole articles/groups (no cluster split), in their original order."""
    from training.dataset import cluster_ids

    if n >= len(rows):
        return rows
    clusters = cluster_ids(rows)
    order = list(range(int(clusters.max()) + 1))
    random.Random(seed).shuffle(order)
    sizes: dict[int, int] = {}
    for c in clusters:
        sizes[int(c)] = sizes.get(int(c), 0) + 1
    chosen, total = set(), 0
    for c in order:
        if total >= n:
            break
        chosen.add(c)
        total += sizes[c]
    return [r for r, c in zip(rows, clusters) if int(c) in chosen]


def _config(base: Any, change: dict[str, Any], epochs: int, seed: int) -> Any:
    # scored in PyTorch: the ONNX export (with its parity check) changes no F1 and costs a minute a fold
    values = {**base.model_dump(), "epochs": epochs, "seed": seed, "progress": False, "export_onnx": False}
    for key, value in change.items():
        values[key] = values[key] + int(value) if isinstance(value, str) and value.startswith("+") else value
    return type(base)(**values)


def _cv(name: str, cfg: Any, rows: list[dict], meta: dict, tags: list[str], folds: int, uri: str, tcfg: Any,
        done: dict[tuple[str, str], dict]) -> dict:
    """One candidate's CV summary: reused from a finished run with the same recipe, seed and sizes
    (so an interrupted comparison resumes), else run and tracked now."""
    from training.train import cross_validate_tracked

    run_tags = {"recipe": name, "seed": str(cfg.seed), "rows": str(len(rows)), "folds": str(folds),
                "epochs": str(cfg.epochs)}
    previous = done.get((name, str(cfg.seed)))
    if previous is not None:
        m = previous["metrics"]
        return {"macro": m["cv_mean_macro_f1"], "macro_sd": m["cv_std_macro_f1"],
                "tags": {t: m[f"cv_mean_f1_{t}"] for t in tags if f"cv_mean_f1_{t}" in m},
                "seconds": m.get("fold_train_seconds", float("nan")) * folds, "run_id": previous["run_id"]}
    out = cross_validate_tracked("finetune", rows, meta, tags, cfg, folds, FOLD_SEED, uri, tcfg,
                                 run_tags=run_tags, run_name=f"recipe {name} seed {cfg.seed}")
    s = out["summary"]
    return {"macro": s["macro_f1"]["mean"], "macro_sd": s["macro_f1"]["std"],
            "tags": {t: s[f"f1_{t}"]["mean"] for t in tags if f"f1_{t}" in s},
            "seconds": sum(f["train_seconds"] for f in out["folds"]), "run_id": out["run_id"]}


def _finished(uri: str, experiment: str, n_rows: int, folds: int, epochs: int) -> dict[tuple[str, str], dict]:
    from training import tracking

    want = {"rows": str(n_rows), "folds": str(folds), "epochs": str(epochs)}
    return {(r["tags"]["recipe"], r["tags"]["seed"]): r for r in reversed(tracking.search_runs(uri, experiment, 500))
            if r["status"] == "FINISHED" and "recipe" in r["tags"] and all(r["tags"].get(k) == v for k, v in want.items())}


def verdict(best: str, first: dict[str, dict], seeds: dict[str, list[dict]]) -> str:
    """The winner, and whether the shipped config is it or trails it by more than the fold spread."""
    head = f"winner (best CV macro-F1, its mean over {len(seeds[best])} seeds in the table): **{best}**"
    if best == "shipped config":
        return head + "; it is the shipped configs/finetune.yaml (README, Researchers, 'The recipe')"
    gap = first[best]["macro"] - first["shipped config"]["macro"]
    spread = max(r["macro_sd"] for r in first.values())
    if gap > spread:
        return head + (f"; it leads the shipped config by {gap:.3f}, more than the largest fold sd ({spread:.3f}): "
                       "configs/finetune.yaml should change to it")
    return head + (f"; it leads the shipped config by {gap:.3f} on the first seed, inside the largest fold sd ({spread:.3f}): "
                   "not a difference this sample shows, so configs/finetune.yaml stays; a larger sample "
                   "(STANCE_RECIPE_ROWS) decides")


def run(quick: bool = False) -> dict:
    """Compare the candidates; returns {"title", "rows", "notes"}."""
    from training import tracking
    from training.dataset import summarize
    from training.dataset import DatasetConfig
    from training.finetune import FinetuneConfig
    from training.labeled import load_labeled

    n_rows = int(os.environ.get("STANCE_RECIPE_ROWS", 300 if quick else 1000))
    epochs = int(os.environ.get("STANCE_RECIPE_EPOCHS", 1 if quick else 3))
    folds = int(os.environ.get("STANCE_RECIPE_FOLDS", 2))
    tags = load_schema().names
    all_rows = load_labeled(GOLD, tags)
    rows = subsample(all_rows, n_rows, FOLD_SEED)
    meta = summarize({"all": rows}, tags, DatasetConfig(), str(GOLD))
    base = load_config(FinetuneConfig, CONFIG_DIR / "finetune.yaml")
    tcfg = load_config(tracking.TrackingConfig, CONFIG_DIR / "tracking.yaml").model_copy(update={"experiment": "stance-recipe"})
    uri = tracking.resolve_tracking_uri(None, tcfg)
    candidates = dict(list(CANDIDATES.items())[:2]) if quick else CANDIDATES
    done = _finished(uri, tcfg.experiment, len(rows), folds, epochs)
    first = {name: _cv(name, _config(base, change, epochs, base.seed), rows, meta, tags, folds, uri, tcfg, done)
             for name, change in candidates.items()}
    ranked = sorted(first, key=lambda n: first[n]["macro"], reverse=True)
    seeds = {name: [first[name]] for name in first}
    extra_seeds = [] if quick else [base.seed + 1, base.seed + 2]
    # the CPU budget pays for two more seeds of the leader only (about 2 minutes a CV run on 2 cores)
    for name in ranked[:1]:
        for seed in extra_seeds:
            seeds[name].append(_cv(name, _config(base, candidates[name], epochs, seed), rows, meta, tags, folds, uri,
                                   tcfg, done))
    out_rows = []
    for name in ranked:
        runs = seeds[name]
        mean = sum(r["macro"] for r in runs) / len(runs)
        row = {"recipe": name, "change": ", ".join(f"{k}={v}" for k, v in candidates[name].items()) or "-",
               f"CV macro-F1 seed {base.seed} (mean ± sd over folds)": f"{runs[0]['macro']:.3f} ± {runs[0]['macro_sd']:.3f}",
               "seeds": len(runs), "macro-F1, mean over seeds": round(mean, 3)}
        row.update({f"F1 {t}": round(runs[0]["tags"].get(t, float("nan")), 3) for t in tags})
        row["train s (all folds)"] = round(runs[0]["seconds"])
        out_rows.append(row)
    best = ranked[0]
    notes = [f"grouped {folds}-fold CV on {len(rows)} of the {len(all_rows)} gold sentences (whole articles and "
             f"duplicate groups drawn at random, seed {FOLD_SEED}); every recipe capped at {epochs} epochs "
             f"with early stopping on an inner grouped validation split (epochs are not a free variable: the demo's "
             "15 minutes on 2 cores fit 2 epochs of the full set, configs/demo.yaml)",
             verdict(best, first, seeds),
             "each row is an MLflow run in experiment `stance-recipe` (tags recipe, seed): `make mlflow-ui` to compare",
             "the real-news dev files are not read here"]
    return {"title": "Recipe selection: fine-tuning recipes by grouped cross-validation", "rows": out_rows,
            "notes": notes, "winner": best}
