"""The TF-IDF baseline: trains, writes a model directory, reloads as a Scorer."""
from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import Dataset

from tests.helpers import make_rows
from training.baseline import BaselineConfig, train_baseline
from training.baseline_scorer import BaselineScorer
from training.dataset import DatasetConfig, split_rows
from training.model_dir import output_frame
from training.scoring import load_scorer

FAST = BaselineConfig(c_grid=[1.0, 8.0], cv_folds=2, char_buckets=2 ** 16)


def _ds(rows):
    return Dataset.from_list(rows)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tags = ["escalation", "de-escalation", "accusation", "denial"]
    splits = split_rows(make_rows(120, seed=2), tags, DatasetConfig())
    out = tmp_path_factory.mktemp("model")
    result = train_baseline(_ds(splits["train"]), _ds(splits["validation"]), tags, FAST, out)
    return result, splits, tags


def test_model_directory_holds_meta_and_pipeline(trained):
    result, _, tags = trained
    meta = json.loads((result.model_dir / "meta.json").read_text())
    assert meta["kind"] == "baseline" and meta["tags"] == tags
    assert set(meta["thresholds"]) == set(tags)
    assert meta["preprocess_version"] == "1"
    assert (result.model_dir / "pipeline.joblib").is_file()
    assert result.params["C"] in FAST.c_grid
    assert [h["C"] for h in result.history] == FAST.c_grid
    assert result.train_seconds > 0 and result.sentences_per_second > 0


def test_reloaded_scorer_learns_the_templates(trained):
    result, splits, tags = trained
    scorer = load_scorer(result.model_dir)
    assert isinstance(scorer, BaselineScorer) and scorer.tags == tags
    texts = [r["text"] for r in splits["test"]]
    probs = scorer.predict_proba(texts)
    assert probs.shape == (len(texts), 4) and ((probs >= 0) & (probs <= 1)).all()
    frame = output_frame(scorer.tags, scorer.thresholds, probs)
    correct = sum(set(p) == set(r["labels"]) for p, r in zip(frame["labels"], splits["test"]))
    assert correct / len(texts) > 0.8


def test_scorer_normalises_text_like_training(trained):
    scorer = load_scorer(trained[0].model_dir)
    a, b = scorer.predict_proba(["Russia  accused\u00a0NATO."]), scorer.predict_proba(["Russia accused NATO."])
    assert np.allclose(a, b)
    assert scorer.predict_proba([]).shape == (0, 4)


def test_other_preprocess_version_is_refused(trained, tmp_path):
    src = trained[0].model_dir
    for name in ("meta.json", "pipeline.joblib"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "preprocess_version": "0"}))
    with pytest.raises(ValueError, match="preprocessing version '0'"):
        BaselineScorer.load(tmp_path)


def test_empty_validation_is_refused(tmp_path):
    with pytest.raises(ValueError, match="non-empty train and validation"):
        train_baseline(_ds(make_rows(8)), _ds(make_rows(8)).select([]), ["escalation"], FAST, tmp_path)
