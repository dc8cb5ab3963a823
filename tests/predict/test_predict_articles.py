"""Predicting on raw article files: ingestion's cleaning and splitting, corrupt inputs, summary."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from labeling.ingest.pipeline import IngestOptions
from tests.helpers import TAGS, read_jsonl
from training.predict.engine import article_source, for_prediction, predict
from training.scoring import load_scorer
from training.predict.summary import SummaryBuilder, dominant_tag

ARTICLE_1 = """Border tensions rise

The army threatened to strike the border towns within days. Officials warned that troops were massing near the frontier.
The foreign ministry accused its neighbour of violating the treaty. The meeting took place in Stockholm on Tuesday.
"""
ARTICLE_2 = """Ceasefire signed

Both sides agreed to restore dialogue and hold talks next month. The ministers signed a ceasefire agreement in Geneva.
The Kremlin denied the reports as baseless.
"""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a1.txt").write_text(ARTICLE_1, encoding="utf-8")
    (folder / "a2.txt").write_text(ARTICLE_2, encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00" * 50)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    return folder


def test_folder_of_articles_is_split_scored_and_corrupt_files_reported(tmp_path, baseline_dir):
    folder = _folder(tmp_path)
    out, errors, summary = tmp_path / "out.jsonl", tmp_path / "errors.jsonl", tmp_path / "summary.jsonl"
    report = predict(article_source([folder], IngestOptions()), load_scorer(baseline_dir), "m", out,
                     summary=summary, errors_file=errors, batch_size=3)
    rows = read_jsonl(out)
    assert report.articles == 2 and report.sentences == len(rows)
    by_article: dict[str, list[dict]] = {}
    for row in rows:
        by_article.setdefault(row["article_id"], []).append(row)
    assert len(by_article) == 2
    for sentences in by_article.values():
        assert [r["index"] for r in sentences] == list(range(len(sentences)))
    texts = [r["text"] for r in rows]
    assert "The Kremlin denied the reports as baseless." in texts
    assert any("threatened to strike" in t for t in texts)
    failed = {Path(e["source"]).name for e in read_jsonl(errors)}
    assert failed == {"binary.txt", "empty.txt", "broken.parquet"}
    assert report.error_count == 3
    summaries = read_jsonl(summary)
    assert sorted(s["article_id"] for s in summaries) == sorted(by_article)
    for s in summaries:
        labelled = by_article[s["article_id"]]
        assert s["sentences"] == len(labelled)
        for tag in TAGS:
            assert s[f"count_{tag}"] == sum(tag in r["labels"] for r in labelled)


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{"article_id": a, "text": t, "labels": labels, **dict(zip(TAGS, scores))}
                                 for a, t, labels, scores in rows])


def test_summary_counts_shares_dominant_and_top_sentences_per_tag():
    builder = SummaryBuilder(TAGS, top_n=2)
    builder.add(_table([
        ("a", "s1", ["escalation"], (0.9, 0.1, 0.2, 0.0)),
        ("a", "s2", ["escalation", "accusation"], (0.6, 0.1, 0.8, 0.0)),
        ("b", "t1", [], (0.1, 0.1, 0.1, 0.1)),
    ]))
    builder.add(_table([("a", "s3", ["escalation"], (0.7, 0.0, 0.1, 0.0)), (None, "orphan", ["denial"], (0, 0, 0, 0.9))]))
    a, b = builder.flush().to_pylist()
    assert (a["article_id"], a["sentences"], a["count_escalation"], a["count_accusation"]) == ("a", 3, 3, 1)
    assert a["share_escalation"] == pytest.approx(1.0) and a["share_accusation"] == pytest.approx(1 / 3)
    assert a["dominant"] == "escalation"
    assert a["top_escalation"] == ["s1", "s3"] and a["top_accusation"] == ["s2"] and a["top_denial"] == []
    assert b["dominant"] is None and b["count_denial"] == 0
    assert builder.flush().num_rows == 0


def test_dominant_tie_goes_to_the_larger_summed_score():
    assert dominant_tag(TAGS, [2, 2, 0, 0], [1.0, 1.5, 0.0, 0.0]) == "de-escalation"
    assert dominant_tag(TAGS, [0, 0, 0, 0], [1.0, 1.5, 0.0, 0.0]) is None


def test_prediction_options_skip_language_detection_and_leave_the_original_alone():
    original = IngestOptions()
    original.tagger()  # a detecting tagger already exists: the copy must not share it
    options = for_prediction(original)
    assert original.language.detect and original.tagger().options.detect
    assert not options.language.detect and options.tagger().tag(["Talks resume in Geneva."]) == ["und"]
    assert options.read == original.read and options.clean == original.clean
