"""One tracked training run, and grouped K-fold, for either model kind.

Glue between data (training.dataset), the untracked fit and fold (training.fit),
evaluation and the tracking module. Returns summary dicts; the CLI prints them.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from labeling.config import StrictModel
from training import registry, tracking
from training.cv import check_cv_possible, cross_validate
from training.dataset import DatasetConfig, is_dataset_dir, load_dataset_splits, split_rows, summarize
from training.evaluate import evaluate_scorer
from training.fit import EpochHook, fit, score_fold
from training.labeled import load_labeled
from training.lineage import write_lineage
from training.metrics import flatten_metrics
from training.plots import epoch_curves
from training.scoring import load_scorer


def prepare_splits(source: Path, tags: Sequence[str], cfg: DatasetConfig) -> tuple[dict[str, list[dict]], dict]:
    """Splits and dataset metadata from a saved dataset directory or a labeled file/snapshot.

    Raises LabeledDataError / SplitError (bad rows, tag missing from train), and ValueError
    when a saved dataset was built with other tags.
    """
    if is_dataset_dir(source):
        return load_dataset_splits(source, tags)
    rows = load_labeled(source, tags)
    splits = split_rows(rows, tags, cfg)
    return splits, summarize(splits, tags, cfg, str(source))


def train_tracked(kind: str, splits: dict[str, list[dict]], meta: dict, tags: Sequence[str], cfg: StrictModel,
                  uri: str, tcfg: tracking.TrackingConfig, register_name: str | None,
                  keep_dir: Path | None = None, on_epoch: EpochHook | None = None,
                  run_tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Train, evaluate on validation and test, log everything to one MLflow run, register the model.

    Returns {"run_id", "model_uri", "name", "version", "test": metrics, "validation": metrics,
    "params", "train_seconds", "sentences_per_second", "fingerprint", "sizes"}.
    A crash inside marks the run FAILED and re-raises.
    """
    tracking.check_reachable(uri)

    def epoch_hook(entry: dict[str, Any]) -> None:
        tracking.log_history_entry(entry)  # live curves while training runs
        if on_epoch is not None:
            on_epoch(entry)

    with tempfile.TemporaryDirectory(prefix="stance-model-") as tmp, \
            tracking.tracked_run(uri, tcfg.experiment, run_name=tracking.run_name(kind, meta.get("fingerprint")),
                                 tags={"model_kind": kind, **(run_tags or {})}) as run:
        tracking.log_params({"kind": kind, "model": cfg.model_dump(mode="json"), "dataset": meta.get("config", {})})
        tracking.log_dataset(meta, splits)
        out_dir = Path(keep_dir) if keep_dir else Path(tmp) / "model"
        result = fit(kind, splits["train"], splits["validation"], tags, cfg, out_dir, on_epoch=epoch_hook)
        write_lineage(result.model_dir, meta, splits)  # travels with the model: evaluate's leakage check
        if kind == "baseline":
            for entry in result.history:
                tracking.log_history_entry(entry)
        if result.history:
            tracking.log_figure(epoch_curves(result.history), "plots/curves.png")
        tracking.log_params({f"trained.{k}": v for k, v in result.params.items() if k != "thresholds"})
        tracking.log_metrics({"train_seconds": result.train_seconds,
                              "train_sentences_per_second": result.sentences_per_second})
        scorer = load_scorer(result.model_dir)
        evaluated = {}
        for split in ("validation", "test"):
            if not splits.get(split):
                continue
            metrics, figures = evaluate_scorer(scorer, splits[split], n_boot=tcfg.bootstrap_samples)
            tracking.log_metrics(flatten_metrics(metrics, prefix="val_" if split == "validation" else "test_"))
            for name, fig in figures.items():
                tracking.log_figure(fig, f"plots/{split}_{name}")
            evaluated[split] = metrics
        tracking.log_metrics(tracking.headline_metrics(evaluated))
        model = registry.log_model(result.model_dir, register_name, [r["text"] for r in splits["train"][:3]])
        if model["version"]:
            tracking.set_run_tag("registered_model", f"{model['name']}/{model['version']}")
    return {"run_id": run.info.run_id, **model, **evaluated, "params": result.params,
            "train_seconds": result.train_seconds, "sentences_per_second": result.sentences_per_second,
            "fingerprint": meta["fingerprint"], "sizes": meta["sizes"]}


def cross_validate_tracked(kind: str, rows: list[dict], meta: dict, tags: Sequence[str], cfg: StrictModel, k: int,
                           seed: int, uri: str, tcfg: tracking.TrackingConfig,
                           on_fold: Callable[[int, dict], None] | None = None,
                           run_tags: dict[str, str] | None = None, run_name: str | None = None) -> dict[str, Any]:
    """Grouped K-fold of `kind` on all `rows`, logged as one run (per-fold metrics at step=fold,
    cv_mean_* and cv_std_*). No model is registered. Raises CVError before training when a
    tag has fewer than k examples.
    """
    check_cv_possible(rows, tags, k)
    tracking.check_reachable(uri)

    def run_fold(fold: int, train: list[dict], test: list[dict]) -> dict[str, float]:
        flat = score_fold(kind, train, test, tags, cfg, seed + fold)
        tracking.log_metrics({f"fold_{k_}": v for k_, v in flat.items()}, step=fold)
        return flat

    run_name = run_name or tracking.run_name(kind, meta.get("fingerprint"), suffix=f"-cv{k}")
    with tracking.tracked_run(uri, tcfg.experiment, run_name=run_name,
                              tags={"model_kind": kind, "cv": str(k), **(run_tags or {})}) as run:
        tracking.log_params({"kind": kind, "cv_folds": k, "model": cfg.model_dump(mode="json")})
        tracking.log_dataset(meta, {"all": rows})
        outcome = cross_validate(rows, tags, k, seed, run_fold, on_fold=on_fold)
        for name, stats in outcome["summary"].items():
            tracking.log_metrics({f"cv_mean_{name}": stats["mean"], f"cv_std_{name}": stats["std"]})
        if "macro_f1" in outcome["summary"]:
            tracking.log_metrics({"macro_f1/cv": outcome["summary"]["macro_f1"]["mean"]})
    return {"run_id": run.info.run_id, **outcome}
