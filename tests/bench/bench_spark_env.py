"""Spark executor environment (issue 15): the scoring-only virtualenv (requirements-score.txt,
no PyTorch) built, packed with venv-pack and measured against the whole project's virtualenv;
scoring through it (`stance predict --engine spark --python SCORE-VENV/bin/python`) checked to
give the same rows as the local engine on the full install, for a baseline and an ONNX model.

    python -m tests.bench.bench_spark_env [--keep DIR]   (or: python -m tests.bench.run_all --only spark_env)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _run(*cmd: Any, **kw: Any) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


def build_score_venv(root: Path) -> tuple[Path, float]:
    """score-venv under `root`: requirements-score.txt with this install's versions, the project without deps."""
    started = time.perf_counter()
    src = root / "src"  # a copy: pip install . leaves build/ in the folder it builds
    for name in ("labeling", "training"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements-score.txt"):
        shutil.copy(REPO / name, src / name)
    freeze = _run(sys.executable, "-m", "pip", "freeze", "--exclude", "stance-lab").stdout
    (root / "constraints.txt").write_text("\n".join(l for l in freeze.splitlines() if "@" not in l and not l.startswith("-e")))
    venv = root / "score-venv"
    _run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    _run(*pip, "venv-pack", "-r", src / "requirements-score.txt", "-c", root / "constraints.txt")
    _run(*pip, "--no-deps", src)
    return venv, time.perf_counter() - started


def _inputs(root: Path) -> dict[str, Path]:
    import pandas as pd

    from tests.helpers import labeled_rows
    from tests.predict.test_spark_cluster import ARTICLES

    sentences, articles = root / "sentences.parquet", root / "articles.parquet"
    pd.DataFrame([{"id": r["id"], "text": r["text"], "article_id": r["article_id"]} for r in labeled_rows()]).to_parquet(sentences)
    pd.DataFrame([{**a, "text": a.pop("body")} for a in map(dict, ARTICLES)]).to_parquet(articles)
    return {"sentences": sentences, "articles": articles}


def _same_rows(local: Path, spark: Path) -> int:
    import pandas as pd

    frames = []
    for path in (local, spark):
        frame = pd.read_parquet(path).sort_values("sentence_id").reset_index(drop=True)
        frame["labels"] = frame["labels"].map(list)
        frames.append(frame)
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False, atol=1e-9, rtol=0)
    return len(frames[0])


def check_scoring(root: Path, python: Path) -> list[str]:
    """Local engine (full install) against Spark executors on `python`: same rows, both model kinds."""
    from tests.helpers import labeled_rows, tiny_onnx_model_dir, train_tiny_baseline

    rows = labeled_rows()
    models = {"baseline": train_tiny_baseline([r for r in rows if not r["id"].endswith("-2")],
                                              [r for r in rows if r["id"].endswith("-2")], root / "baseline"),
              "onnx transformer": tiny_onnx_model_dir(root / "onnx")}
    stance = [sys.executable, "-m", "training.cli", "predict"]
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    checked = []
    for kind, model in models.items():
        for name, src in _inputs(root / kind.replace(" ", "-")).items():
            flag = ["--sentences"] if name == "sentences" else []
            out = root / kind.replace(" ", "-") / name
            _run(*stance, src, *flag, "--model", model, "--out", f"{out}-local.parquet", cwd=REPO, env=env)
            _run(*stance, src, *flag, "--model", model, "--out", f"{out}-spark.parquet", "--engine", "spark",
                 "--master", "local[1]", "--python", python, cwd=REPO, env=env)
            n = _same_rows(Path(f"{out}-local.parquet"), Path(f"{out}-spark.parquet"))
            checked.append(f"{kind}, {name}: {n} rows equal")
    return checked


def run(quick: bool = False, keep: Path | None = None) -> dict[str, Any]:
    root = Path(keep or tempfile.mkdtemp(prefix="stance-spark-env-"))
    try:
        venv, build_s = build_score_venv(root)
        python = venv / "bin" / "python"
        torch = subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0
        started = time.perf_counter()
        # as the README packs it: bytecode left out (pip compiled it at install; Python recompiles on import)
        _run(venv / "bin" / "venv-pack", "-p", venv, "-o", root / "stance-venv.tar.gz", "-q", "--exclude", "*__pycache__*")
        pack_s = time.perf_counter() - started
        full = Path(sys.prefix)
        checked = check_scoring(root, python)
        rows = [
            {"environment": "scoring only (requirements-score.txt + project, --no-deps)",
             "unpacked MiB": round(_du(venv) / MB), "packed MiB (venv-pack, gz)": round((root / "stance-venv.tar.gz").stat().st_size / MB),
             "PyTorch": "yes" if torch else "no"},
            {"environment": "whole project (this .venv, with the test extra)", "unpacked MiB": round(_du(full) / MB),
             "packed MiB (venv-pack, gz)": "not packed here (1,260 in the issue)", "PyTorch": "yes"},
        ]
        notes = [f"building the scoring venv from the local package index: {build_s:.0f} s; packing it: {pack_s:.0f} s",
                 "scoring with it (Spark executors on its Python, local[1]) against the local engine on the full install: "
                 + "; ".join(checked),
                 "target: packed under 300 MB"]
        return {"title": "Spark executor environment (issue 15)", "rows": rows, "notes": notes}
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    result = run(keep=parser.parse_args().keep)
    print(json.dumps(result, indent=1))
