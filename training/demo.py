"""The main job on the shipped sample data: the whole loop, no server needed.

Each step is the `stance` command a user would type, run as a subprocess so that the
demo shows (and tests) exactly the public interface; the champion is chosen from the
runs' validation macro-F1 as read back from the tracking store.
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from labeling.config import PROJECT_ROOT, StrictModel
from labeling.io import read_jsonl


class DemoConfig(StrictModel):
    """Paths and sizes of the demo (configs/demo.yaml overrides; all relative to the project root)."""

    articles: str = "data/sample/articles"
    heldout: str = "data/sample/heldout"
    gold: str = "data/gold"
    out_dir: str = "data/demo"
    export_dir: str = "models/champion"
    finetune_epochs: int | None = None  # None: configs/finetune.yaml decides
    tracking_uri: str | None = None  # None: the project's SQLite store (or MLFLOW_TRACKING_URI)


@dataclass
class Step:
    """One demo step: a title and the `stance` arguments to run."""

    title: str
    args: list[str]
    seconds: float = 0.0


@dataclass
class DemoResult:
    steps: list[Step] = field(default_factory=list)
    champion: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)


def run_stance(args: list[str], root: Path) -> None:
    """Run `stance ARGS` in a subprocess (output goes straight to the terminal).

    Raises RuntimeError naming the command when it exits non-zero.
    """
    cmd = [sys.executable, "-m", "training.cli", *args]
    done = subprocess.run(cmd, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"`stance {' '.join(args)}` failed with exit code {done.returncode}")


def _tracking(cfg: DemoConfig) -> list[str]:
    return ["--tracking-uri", cfg.tracking_uri] if cfg.tracking_uri else []


def newest_registered(runs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The newest finished run of `kind` with a registered model: name, version, run id, metrics.

    `runs` come newest first (training.tracking.search_runs). Raises LookupError if none.
    """
    for run in runs:
        tags = run["tags"]
        if tags.get("model_kind") == kind and run["status"] == "FINISHED" and tags.get("registered_model"):
            name, version = tags["registered_model"].rsplit("/", 1)
            return {"kind": kind, "name": name, "version": version, "run_id": run["run_id"],
                    "val_macro_f1": run["metrics"].get("val_macro_f1", float("nan")),
                    "test_macro_f1": run["metrics"].get("test_macro_f1", float("nan"))}
    raise LookupError(f"no finished, registered {kind} run in the tracking store")


def choose_champion(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the best validation macro-F1 (test stays untouched for reporting)."""
    return max(candidates, key=lambda c: c["val_macro_f1"])


def _candidates(cfg: DemoConfig, root: Path) -> list[dict[str, Any]]:
    from training import tracking

    tcfg = tracking.load_tracking_config()
    uri = tracking.resolve_tracking_uri(cfg.tracking_uri, tcfg)
    runs = tracking.search_runs(uri, tcfg.experiment, max_results=20)
    return [newest_registered(runs, kind) for kind in ("baseline", "finetune")]


def run_demo(cfg: DemoConfig, root: Path = PROJECT_ROOT,
             announce: Callable[[int, int, Step], None] | None = None) -> DemoResult:
    """Ingest, write Label Studio tasks, build the dataset, train and track both models,
    promote the better one to @champion, export it, score held-out articles.

    Returns what was done and where the outputs are. Raises RuntimeError on a failed step.
    """
    # relative paths: the commands run in `root`, and the printed command lines stay short
    out = Path(cfg.out_dir)
    (root / out).mkdir(parents=True, exist_ok=True)
    paths = {"sentences": out / "sentences.jsonl", "tasks": out / "labelstudio-import.json",
             "dataset": out / "dataset", "predictions": out / "predictions.jsonl",
             "summary": out / "article-summary.jsonl", "report": out / "runs-report.html",
             "errors": out / "errors.jsonl", "model": Path(cfg.export_dir)}
    epochs = ["--epochs", str(cfg.finetune_epochs)] if cfg.finetune_epochs else []
    result = DemoResult(paths=paths)
    plan = [
        Step("Ingest the sample articles into sentences",
             ["ingest", cfg.articles, "--out", str(paths["sentences"]), "--errors", str(paths["errors"])]),
        Step("Write Label Studio tasks (file mode, one task per duplicate group)",
             ["label", "push", str(paths["sentences"]), "--to-file", str(paths["tasks"])]),
        Step("Build grouped train/validation/test splits from the starter gold set",
             ["dataset", "build", cfg.gold, "--out", str(paths["dataset"])]),
        Step("Train the TF-IDF baseline (tracked in MLflow, registered)",
             ["train", "baseline", str(paths["dataset"]), *_tracking(cfg)]),
        Step("Fine-tune all-MiniLM-L6-v2 (tracked in MLflow, registered)",
             ["train", "finetune", str(paths["dataset"]), *epochs, *_tracking(cfg)]),
    ]
    for step in plan:
        _run_step(step, len(result.steps) + 1, result, root, announce)
    result.candidates = _candidates(cfg, root)
    result.champion = champ = choose_champion(result.candidates)
    uri = f"models:/{champ['name']}@champion"
    for step in [
        Step(f"Promote {champ['name']} v{champ['version']} to @champion (best validation macro-F1)",
             ["models", "promote", champ["name"], champ["version"], "--alias", "champion", *_tracking(cfg)]),
        Step("Export the champion as a self-contained model directory",
             ["models", "export", uri, "--out", str(paths["model"]), *_tracking(cfg)]),
        Step("Score the held-out sample articles with the exported champion",
             ["predict", cfg.heldout, "--model", str(paths["model"]), "--out", str(paths["predictions"]),
              "--summary", str(paths["summary"])]),
        Step("Compare the two runs side by side", ["runs", "compare", "--limit", "2", *_tracking(cfg)]),
        Step("Write the runs report with the per-tag F1 plot",
             ["runs", "report", "--out", str(paths["report"]), "--limit", "10", *_tracking(cfg)]),
    ]:
        _run_step(step, len(result.steps) + 1, result, root, announce)
    return result


def _run_step(step: Step, number: int, result: DemoResult, root: Path,
              announce: Callable[[int, int, Step], None] | None) -> None:
    if announce is not None:
        announce(number, 10, step)
    started = time.perf_counter()
    run_stance(step.args, root)
    step.seconds = time.perf_counter() - started
    result.steps.append(step)


def read_summary(path: Path) -> list[dict[str, Any]]:
    """Per-article summary rows written by `stance predict --summary` (JSONL)."""
    return [row for _, row in read_jsonl(path)]
