"""--engine spark on a real local Spark session gives the local engine's rows."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from labeling.ingest.pipeline import IngestOptions
from tests.helpers import TAGS, labeled_rows
from training.predict.engine import PredictOptions, article_source, predict, sentence_source
from training.scoring import load_scorer

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ARTICLES = [
    {"id": "A1", "title": "Border tension",
     "text": "The army threatened to strike the border towns within days. Officials warned that troops were massing "
             "near the frontier.\n\nThe Kremlin denied the reports as baseless."},
    {"id": "A2", "title": None,
     "text": "Both sides agreed to restore dialogue and hold talks next month. The ministers signed a ceasefire agreement."},
    {"id": "A3", "title": None, "text": "   "},
]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        pytest.fail("Java 17 is needed for the Spark tests: run `make sysdeps` (openjdk-17-jre-headless)")
    from training.predict.spark import require_pyspark, spark_session

    require_pyspark()  # in the test extra: a missing pyspark is a failure, not a skip

    session = spark_session("local[2]", app_name="stance-test", driver_memory="1g")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


def _sorted(path) -> pd.DataFrame:
    frame = pd.read_parquet(path).sort_values("sentence_id").reset_index(drop=True)
    frame["labels"] = frame["labels"].map(list)
    return frame


def _assert_same_rows(local_path, spark_path) -> None:
    local, spark_rows = _sorted(local_path), _sorted(spark_path)
    assert list(spark_rows.columns) == list(local.columns) == ["article_id", "sentence_id", "index", "text", "labels", *TAGS]
    assert len(local) > 0
    pd.testing.assert_frame_equal(spark_rows, local, check_dtype=False, atol=1e-9, rtol=0)


def test_spark_sentences_equal_local_rows_and_report_the_same_errors(tmp_path, baseline_dir, spark):
    from training.predict.spark import run_spark
    from training.registry import pyfunc_uri

    rows = labeled_rows()
    src = tmp_path / "sentences.parquet"
    pd.DataFrame([{"id": r["id"], "text": r["text"], "article_id": r["article_id"]} for r in rows]
                 + [{"id": "empty", "text": None, "article_id": "z"}]).to_parquet(src)
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    inputs = [str(src), str(tmp_path / "corrupt.parquet")]
    local = predict(sentence_source(inputs, PredictOptions()), load_scorer(baseline_dir), "m", tmp_path / "local.parquet",
                    errors_file=tmp_path / "local-errors.jsonl", workers=1)
    result = run_spark(spark, inputs, pyfunc_uri(str(baseline_dir), tmp_path), TAGS, str(tmp_path / "spark.parquet"),
                       sentences=True, summary=str(tmp_path / "summary.parquet"), errors_file=tmp_path / "spark-errors.jsonl")
    _assert_same_rows(tmp_path / "local.parquet", tmp_path / "spark.parquet")
    assert result["sentences"] == local.sentences == len(rows)
    assert sorted((e["source"], e["line"]) for e in result["errors"]) == [(str(tmp_path / "corrupt.parquet"), None), (str(src), len(rows) + 1)]
    summary = pd.read_parquet(tmp_path / "summary.parquet")
    assert sorted(summary["article_id"]) == sorted({r["article_id"] for r in rows})


def test_spark_articles_are_split_like_the_local_engine(tmp_path, baseline_dir, spark):
    from training.predict.spark import run_spark
    from training.registry import pyfunc_uri

    src = tmp_path / "articles.parquet"
    pd.DataFrame(ARTICLES).to_parquet(src)
    predict(article_source([src], IngestOptions()), load_scorer(baseline_dir), "m", tmp_path / "local.parquet",
            summary=tmp_path / "local-summary.parquet", workers=1)
    result = run_spark(spark, [str(src)], pyfunc_uri(str(baseline_dir), tmp_path), TAGS, str(tmp_path / "spark.parquet"),
                       sentences=False, ingest_options=IngestOptions(), summary=str(tmp_path / "spark-summary.parquet"))
    _assert_same_rows(tmp_path / "local.parquet", tmp_path / "spark.parquet")
    assert result["articles"] == 2
    assert [(e["line"], "empty" in e["error"]) for e in result["errors"]] == [(3, True)]
    local_summary = pd.read_parquet(tmp_path / "local-summary.parquet").sort_values("article_id").reset_index(drop=True)
    spark_summary = pd.read_parquet(tmp_path / "spark-summary.parquet").sort_values("article_id").reset_index(drop=True)
    for frame in (local_summary, spark_summary):
        for tag in TAGS:
            frame[f"top_{tag}"] = frame[f"top_{tag}"].map(list)
    pd.testing.assert_frame_equal(spark_summary, local_summary, check_dtype=False)
