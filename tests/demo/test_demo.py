"""The main job end to end (`stance demo`) on shrunk data, plus its champion choice."""
from __future__ import annotations

import json
import shutil

import pytest

from labeling.config import PROJECT_ROOT
from training.demo import DemoConfig, choose_champion, newest_registered, run_demo


def _run(kind: str, status: str, registered: str | None, val: float) -> dict:
    tags = {"model_kind": kind}
    if registered:
        tags["registered_model"] = registered
    return {"run_id": f"{kind}-{registered}", "status": status, "tags": tags,
            "metrics": {"val_macro_f1": val, "test_macro_f1": val - 0.01}}


def test_newest_registered_skips_failed_and_unregistered_runs():
    runs = [_run("finetune", "FAILED", "stance-finetune/3", 0.9), _run("finetune", "FINISHED", None, 0.8),
            _run("finetune", "FINISHED", "stance-finetune/2", 0.7), _run("baseline", "FINISHED", "stance-baseline/5", 0.6)]
    found = newest_registered(runs, "finetune")
    assert (found["name"], found["version"], found["val_macro_f1"]) == ("stance-finetune", "2", 0.7)
    with pytest.raises(LookupError, match="no finished, registered cv run"):
        newest_registered(runs, "cv")


def test_champion_is_the_best_on_validation_not_on_test():
    a = {"kind": "baseline", "val_macro_f1": 0.70, "test_macro_f1": 0.90}
    b = {"kind": "finetune", "val_macro_f1": 0.75, "test_macro_f1": 0.60}
    assert choose_champion([a, b]) is b


@pytest.mark.slow
def test_demo_runs_the_whole_loop_twice_and_adds_runs(tmp_path):
    articles, heldout, gold = tmp_path / "articles", tmp_path / "heldout", tmp_path / "gold"
    for folder in (articles, heldout, gold):
        folder.mkdir()
    sample = sorted((PROJECT_ROOT / "data" / "sample" / "articles").iterdir())
    for src in sample[:3] + [p for p in sample if p.suffix == ".html"][:1]:
        shutil.copy(src, articles / src.name)
    shutil.copy(sorted((PROJECT_ROOT / "data" / "sample" / "heldout").iterdir())[0], heldout)
    # a shrunk gold set: whole articles from two parts, so groups and articles stay intact
    for part in ("part-1.jsonl", "part-5.jsonl"):
        lines = (PROJECT_ROOT / "data" / "gold" / part).read_text(encoding="utf-8").splitlines()
        (gold / part).write_text("\n".join(lines[:170]) + "\n", encoding="utf-8")
    cfg = DemoConfig(articles=str(articles), heldout=str(heldout), gold=str(gold), out_dir=str(tmp_path / "demo"),
                     export_dir=str(tmp_path / "champion"), finetune_epochs=1,
                     tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = run_demo(cfg)
    assert len(first.steps) == 10
    assert {c["kind"] for c in first.candidates} == {"baseline", "finetune"}
    assert first.champion in first.candidates
    predictions = [json.loads(l) for l in (tmp_path / "demo" / "predictions.jsonl").read_text().splitlines()]
    assert predictions and {"article_id", "sentence_id", "labels", "denial"} <= set(predictions[0])
    tasks = json.loads((tmp_path / "demo" / "labelstudio-import.json").read_text())
    assert tasks and all("sentence_id" in t["data"] for t in tasks)
    assert (tmp_path / "champion" / "MLmodel").exists()
    second = run_demo(cfg)
    versions = {c["kind"]: int(c["version"]) for c in second.candidates}
    assert versions == {k: int(c["version"]) + 1 for k, c in ((c["kind"], c) for c in first.candidates)}
