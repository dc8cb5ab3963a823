"""Predicting with a real (tiny, one-epoch) fine-tuned transformer served by ONNX Runtime."""
from __future__ import annotations

import os

import numpy as np
import pytest
from datasets import Dataset

from labeling.ingest import IngestOptions
from tests.predict.helpers import TAGS, labeled_rows, read_jsonl
from training.predict import article_source, predict
from training.scoring import load_scorer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transformer_dir(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from training.finetune import FinetuneConfig, train_transformer

    rows = labeled_rows()
    cfg = FinetuneConfig(epochs=1, batch_size=16, max_length=32, progress=False, num_threads=2, patience=0)
    out = tmp_path_factory.mktemp("transformer") / "model"
    return train_transformer(Dataset.from_list(rows[:40]), Dataset.from_list(rows[40:]), TAGS, cfg, out).model_dir


def test_transformer_predicts_articles_with_its_onnx_scores(tmp_path, transformer_dir):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Border tension\n\nThe army threatened to strike the border towns within days. "
                                  "The Kremlin denied the reports as baseless.\n", encoding="utf-8")
    (folder / "b.txt").write_text("Talks\n\nBoth sides agreed to restore dialogue and hold talks next month.\n", encoding="utf-8")
    scorer = load_scorer(transformer_dir, num_threads=2)
    assert scorer.kind == "transformer" and scorer.backend == "onnx"
    report = predict(article_source([folder], IngestOptions()), scorer, "t", tmp_path / "out.jsonl",
                     summary=tmp_path / "summary.jsonl", batch_size=2)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert report.articles == 2 and report.sentences == len(rows) >= 3
    expected = scorer.predict_proba([r["text"] for r in rows])
    assert np.allclose([[r[t] for t in TAGS] for r in rows], expected, atol=1e-6)
    for row, p in zip(rows, expected):
        assert row["labels"] == [t for t, v, th in zip(TAGS, p, scorer.thresholds) if v >= th]
    assert len(read_jsonl(tmp_path / "summary.jsonl")) == 2
