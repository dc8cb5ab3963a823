"""Predicting with a real (tiny, one-epoch) fine-tuned transformer served by ONNX Runtime."""
from __future__ import annotations

import os

import numpy as np
import pytest
from datasets import Dataset

from labeling.ingest.pipeline import IngestOptions
from tests.helpers import TAGS, labeled_rows, read_jsonl
from training.predict.engine import article_source, predict
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


def test_forked_onnx_workers_write_what_one_process_writes(tmp_path, transformer_dir):
    # The parent's session has run before the fork: each worker must open its own
    # (an ONNX Runtime thread pool does not survive fork) and score the same.
    from training.predict.workers import default_workers

    folder = tmp_path / "articles"
    folder.mkdir()
    rows = labeled_rows()
    for i in range(6):
        body = " ".join(r["text"] for r in rows[i * 5:(i + 1) * 5])
        (folder / f"a{i}.txt").write_text(f"Report {i}\n\n{body}\n", encoding="utf-8")
    scorer = load_scorer(transformer_dir, num_threads=2)
    scorer.predict_proba(["A warm-up sentence scored in the parent process."])
    assert default_workers(scorer) == 1  # --workers 2 below is the user's choice
    one = predict(article_source([folder], IngestOptions()), scorer, "t", tmp_path / "one.jsonl", batch_size=3, workers=1)
    two = predict(article_source([folder], IngestOptions()), scorer, "t", tmp_path / "two.jsonl", batch_size=3, workers=2)
    a, b = read_jsonl(tmp_path / "one.jsonl"), read_jsonl(tmp_path / "two.jsonl")
    assert one.sentences == two.sentences == len(a) >= 20
    assert [r["sentence_id"] for r in a] == [r["sentence_id"] for r in b]
    assert np.allclose([[r[t] for t in TAGS] for r in a], [[r[t] for t in TAGS] for r in b], atol=1e-5)
    assert scorer._run_batch.threads == 2  # the workers' share of the cores stayed in the workers


def test_set_threads_reopens_the_session_with_the_new_count(transformer_dir):
    scorer = load_scorer(transformer_dir, num_threads=2)
    before = scorer.predict_proba(["The army threatened to strike the border towns."])
    scorer.set_threads(1)
    assert scorer._run_batch.threads == 1
    assert np.allclose(scorer.predict_proba(["The army threatened to strike the border towns."]), before, atol=1e-5)
