"""End to end: `stance ingest` through the CLI on fixture articles and bad inputs."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labeling.ingest.pipeline import RECORD_FIELDS, article_sentences
from labeling.ingest.readers import Article
from tests.helpers import cli_invoker

stance = cli_invoker()


@pytest.fixture
def corpus(tmp_path, messy_path, html_path):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(messy_path, root)
    shutil.copy(html_path, root)
    (root / "wire.jsonl").write_text(json.dumps({
        "id": "wire-1", "title": "Ostland deploys ships",
        "text": "Ostland deploys ships\nOstland refuses to consider our proposals to reduce tension and prevent "
                "dangerous incidents, Kallis said. Der Minister sagte, die Gespr\u00e4che seien gut verlaufen."}) + "\n")
    return root


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_ingest_writes_traceable_records_and_a_summary(corpus, tmp_path):
    out = tmp_path / "out" / "sentences.jsonl"
    result = stance("ingest", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "duplicate groups" in result.output and "dropped lines" in result.output
    records = _records(out)
    assert all(list(r) == RECORD_FIELDS for r in records)
    assert len({r["sentence_id"] for r in records}) == len(records)
    german = [r for r in records if r["text"].startswith("Der Minister")][0]
    assert german["lang"] == "de" and german["for_labeling"] is False
    by_article = {}
    for r in records:
        by_article.setdefault(r["article_id"], []).append(r)
    for rows in by_article.values():
        assert [r["index"] for r in rows] == list(range(len(rows)))
        assert rows[0]["prev_text"] is None and rows[-1]["next_text"] is None
        assert all(a["next_text"] == b["text"] for a, b in zip(rows, rows[1:]))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_output_follows_the_umask(corpus, tmp_path, umask, mode):
    out = tmp_path / "s.jsonl"
    old = os.umask(umask)
    try:
        result = stance("ingest", str(corpus), "--out", str(out))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_rerun_is_byte_identical(corpus, tmp_path):
    out = tmp_path / "s.jsonl"
    stance("ingest", str(corpus), "--out", str(out))
    first = out.read_bytes()
    stance("ingest", str(corpus), "--out", str(out))
    assert out.read_bytes() == first


def test_bad_inputs_are_skipped_with_exit_1_and_listed(corpus, tmp_path):
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    errors = tmp_path / "errors.jsonl"
    out = tmp_path / "s.jsonl"
    result = stance("ingest", str(corpus), "--out", str(out), "--errors", str(errors))
    assert result.exit_code == 1
    assert "2 input(s) skipped" in result.output
    messages = sorted(e["message"] for e in _records(errors))
    assert messages[0].startswith("binary file") and messages[1] == "empty file"
    assert any(r["source_path"].endswith("page.html") for r in _records(out))  # the rest was processed
    allowed = stance("ingest", str(corpus), "--out", str(out), "--allow-skips")
    assert allowed.exit_code == 0


def test_parquet_output_and_show_dropped(corpus, tmp_path):
    out = tmp_path / "s.parquet"
    result = stance("ingest", str(corpus / "messy_scrape.txt"), "--out", str(out),
                    "--format", "parquet", "--show-dropped")
    assert result.exit_code == 0, result.output
    assert "By Maria Ostrova" in result.output and "byline" in result.output
    table = pq.read_table(out)
    assert table.column_names == RECORD_FIELDS
    assert table.column("kind").to_pylist()[:2] == ["headline", "dateline"]


def test_missing_text_column_fails_with_a_clear_message(tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("id,body\n1,Some text.\n")
    result = stance("ingest", str(src), "--out", str(tmp_path / "s.jsonl"))
    assert result.exit_code == 1
    assert "missing text column 'text'" in result.output


def test_bad_format_option_exits_2_without_traceback(corpus, tmp_path):
    result = stance("ingest", str(corpus), "--out", str(tmp_path / "s.x"), "--format", "xml")
    assert result.exit_code == 2 and "format" in result.output and "Traceback" not in result.output


def test_languages_option_sends_other_languages_to_labeling(corpus, tmp_path):
    out = tmp_path / "s.jsonl"
    stance("ingest", str(corpus / "wire.jsonl"), "--out", str(out), "--languages", "en,de")
    assert all(r["for_labeling"] for r in _records(out))


def test_article_sentences_offsets_index_the_cleaned_text(options, messy_path):
    article = Article(text=messy_path.read_text(encoding="utf-8"), source_path=str(messy_path))
    records = article_sentences(article, options)
    assert records[0]["kind"] == "headline" and records[0]["date"] == "2023-03-14"
    assert records[0]["article_id"].startswith("a-") and records[0]["group_id"] is None
    cleaned_len = max(r["end"] for r in records)
    assert all(0 <= r["start"] < r["end"] <= cleaned_len for r in records)


# Child peak memory allowed for a 50 MB single-line article: the pipeline needs ~0.6 GB
# (the text, its sentences and spans); the version before this bound needed 1.5 GB.
HUGE_LINE_MAX_RSS_MB = 1200
_REPORT_PEAK = """
import resource, sys
from training.cli import main
try:
    main()
finally:
    print("peak-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


@pytest.mark.slow
def test_50_mb_single_line_file_is_one_article_in_bounded_memory(tmp_path):
    src = tmp_path / "huge.txt"
    unit = "Ostland said the fleet was ready and the talks would resume in Geneva next week. "
    with open(src, "w") as fh:
        for _ in range(50_000_000 // len(unit) + 1):
            fh.write(unit)
    out = tmp_path / "s.jsonl"
    # A child process that reports its own peak resident memory (not that of other tests' children).
    result = subprocess.run([sys.executable, "-c", _REPORT_PEAK, "ingest", str(src), "--out", str(out)],
                            capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
    peak_mb = int(result.stderr.rsplit("peak-kb", 1)[1].split()[0]) / 1024
    assert peak_mb < HUGE_LINE_MAX_RSS_MB
    assert "617284" in result.stdout  # every sentence of the one article
    with open(out) as fh:
        first = json.loads(fh.readline())
    assert first["text"] == unit.strip() and first["source_path"] == str(src)
