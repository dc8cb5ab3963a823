"""The local prediction engine with a real baseline model: outputs, errors, resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.helpers import TAGS, CountingScorer, labeled_rows, read_jsonl, write_jsonl
from training.predict.engine import PredictOptions, predict, sentence_source
from training.predict.output import ResumeError, partial_dir
from training.scoring import load_scorer


def _records(n: int = 40) -> list[dict]:
    rows = labeled_rows()
    return [{"id": f"r{i:03d}", "text": rows[i % len(rows)]["text"], "article_id": f"a{i // 4}", "index": i % 4}
            for i in range(n)]


def _run(inputs, scorer, out, **kwargs):
    kwargs.setdefault("workers", 1)
    return predict(sentence_source(inputs, PredictOptions()), scorer, "test-model", out, **kwargs)


def test_sentences_output_has_one_row_per_record_with_scores_and_thresholded_labels(tmp_path, baseline_dir):
    scorer = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(12))
    report = _run([src], scorer, tmp_path / "out.jsonl", batch_size=5)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert report.sentences == 12 and report.error_count == 0
    assert [r["sentence_id"] for r in rows] == [f"r{i:03d}" for i in range(12)]
    assert list(rows[0]) == ["article_id", "sentence_id", "index", "text", "labels", *TAGS]
    probs = scorer.predict_proba([r["text"] for r in rows])
    assert np.allclose([[r[t] for t in TAGS] for r in rows], probs)
    for row, p in zip(rows, probs):
        assert row["labels"] == [t for t, v, th in zip(TAGS, p, scorer.thresholds) if v >= th]
    assert not partial_dir(tmp_path / "out.jsonl").exists()


def test_csv_and_parquet_outputs_hold_the_same_rows_as_jsonl(tmp_path, baseline_dir):
    scorer = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(9))
    for name in ("out.jsonl", "out.csv", "out.parquet"):
        _run([src], scorer, tmp_path / name, batch_size=4)
    from_jsonl = pd.DataFrame(read_jsonl(tmp_path / "out.jsonl"))
    from_parquet = pq.read_table(tmp_path / "out.parquet").to_pandas()
    from_csv = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert from_parquet["sentence_id"].tolist() == from_jsonl["sentence_id"].tolist() == from_csv["sentence_id"].tolist()
    assert [list(x) for x in from_parquet["labels"]] == from_jsonl["labels"].tolist()
    assert from_csv["labels"].tolist() == [";".join(x) for x in from_jsonl["labels"]]
    for tag in TAGS:
        assert np.allclose(from_parquet[tag], from_jsonl[tag]) and np.allclose(from_csv[tag], from_jsonl[tag])


def test_bad_records_are_reported_with_file_and_line_and_the_rest_scored(tmp_path, baseline_dir):
    good = _records(3)
    src = write_jsonl(tmp_path / "in.jsonl", [good[0], "{not json", {"id": "no-text"}, good[1], {"id": "x", "text": "  "}, good[2]])
    (tmp_path / "latin1.jsonl").write_bytes(json.dumps({"id": "ok", "text": "Talks resumed."}).encode() + b"\n"
                                            + '{"id": "bad", "text": "caf\xe9"}'.encode("latin-1") + b"\n")
    report = _run([src, tmp_path / "latin1.jsonl", tmp_path / "missing.jsonl"], load_scorer(baseline_dir),
                  tmp_path / "out.jsonl", errors_file=tmp_path / "errors.jsonl", batch_size=2)
    assert [r["sentence_id"] for r in read_jsonl(tmp_path / "out.jsonl")] == ["r000", "r001", "r002", "ok"]
    errors = read_jsonl(tmp_path / "errors.jsonl")
    assert [(Path(e["source"]).name, e["line"]) for e in errors] == [
        ("in.jsonl", 2), ("in.jsonl", 3), ("in.jsonl", 5), ("latin1.jsonl", 2), ("missing.jsonl", None)]
    assert "malformed JSON" in errors[0]["error"] and "without text" in errors[1]["error"]
    assert "UTF-8" in errors[3]["error"] and "no such file" in errors[4]["error"]
    assert report.error_count == 5 and report.sentences == 4


def test_crash_mid_run_leaves_no_output_and_resume_finishes_without_rescoring_or_duplicates(tmp_path, baseline_dir):
    inner = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(40))
    _run([src], inner, tmp_path / "reference.parquet", batch_size=8)
    out = tmp_path / "out.parquet"
    crashing = CountingScorer(inner, fail_after_calls=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run([src], crashing, out, batch_size=8)
    assert not out.exists() and partial_dir(out).exists()
    resumed = CountingScorer(inner)
    report = _run([src], resumed, out, batch_size=8, resume=True)
    assert resumed.scored == 40 - 3 * 8
    assert report.sentences == 40 and report.resumed_sentences == 24
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "reference.parquet"))
    assert not partial_dir(out).exists()


def test_without_resume_an_old_partial_output_is_discarded(tmp_path, baseline_dir):
    inner = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(16))
    with pytest.raises(RuntimeError):
        _run([src], CountingScorer(inner, fail_after_calls=1), tmp_path / "out.jsonl", batch_size=4)
    fresh = CountingScorer(inner)
    _run([src], fresh, tmp_path / "out.jsonl", batch_size=4)
    assert fresh.scored == 16 and len(read_jsonl(tmp_path / "out.jsonl")) == 16


def test_resume_with_a_model_of_other_tags_fails_before_scoring(tmp_path, baseline_dir):
    inner = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(16))
    with pytest.raises(RuntimeError):
        _run([src], CountingScorer(inner, fail_after_calls=1), tmp_path / "out.jsonl", batch_size=4)
    other = CountingScorer(inner)
    other.tags = list(reversed(TAGS))
    with pytest.raises(ResumeError, match="has tags .* but the model has"):
        _run([src], other, tmp_path / "out.jsonl", batch_size=4, resume=True)
    assert other.scored == 0


def test_resume_on_changed_input_fails_naming_the_mismatch(tmp_path, baseline_dir):
    inner = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(16))
    with pytest.raises(RuntimeError):
        _run([src], CountingScorer(inner, fail_after_calls=2), tmp_path / "out.jsonl", batch_size=4)
    changed = _records(16)
    changed[7]["id"] = "edited"
    write_jsonl(src, changed)
    with pytest.raises(ResumeError, match=r"in\.jsonl:8: changed since the interrupted run scored it"):
        _run([src], inner, tmp_path / "out.jsonl", batch_size=4, resume=True)


def test_failed_run_leaves_an_existing_output_untouched(tmp_path, baseline_dir):
    out = tmp_path / "out.jsonl"
    out.write_text("previous complete output\n", encoding="utf-8")
    src = write_jsonl(tmp_path / "in.jsonl", _records(8))
    with pytest.raises(RuntimeError):
        _run([src], CountingScorer(load_scorer(baseline_dir), fail_after_calls=1), out, batch_size=4)
    assert out.read_text(encoding="utf-8") == "previous complete output\n"


def test_unsupported_output_extension_fails_before_reading_input(tmp_path, baseline_dir):
    scorer = CountingScorer(load_scorer(baseline_dir))
    with pytest.raises(ValueError, match=r"out\.txt: unsupported output extension"):
        _run([tmp_path / "missing.jsonl"], scorer, tmp_path / "out.txt")
    assert not partial_dir(tmp_path / "out.txt").exists()


def test_two_worker_processes_write_the_same_rows_in_the_same_order(tmp_path, baseline_dir):
    scorer = load_scorer(baseline_dir)
    src = write_jsonl(tmp_path / "in.jsonl", _records(40) + ["{broken"])
    one = _run([src], scorer, tmp_path / "one.parquet", batch_size=4, workers=1, errors_file=tmp_path / "e1.jsonl")
    two = _run([src], scorer, tmp_path / "two.parquet", batch_size=4, workers=2, errors_file=tmp_path / "e2.jsonl")
    assert pq.read_table(tmp_path / "two.parquet").equals(pq.read_table(tmp_path / "one.parquet"))
    assert (one.sentences, one.error_count) == (two.sentences, two.error_count) == (40, 1)
    assert read_jsonl(tmp_path / "e1.jsonl") == read_jsonl(tmp_path / "e2.jsonl")


def test_a_failure_inside_a_worker_process_stops_the_run_with_its_message(tmp_path, baseline_dir):
    src = write_jsonl(tmp_path / "in.jsonl", _records(16))
    crashing = CountingScorer(load_scorer(baseline_dir), fail_after_calls=1)
    with pytest.raises(RuntimeError, match="scoring failed in a worker: RuntimeError: simulated crash"):
        _run([src], crashing, tmp_path / "out.jsonl", batch_size=4, workers=2)
    assert not (tmp_path / "out.jsonl").exists()
