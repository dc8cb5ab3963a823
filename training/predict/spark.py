"""`stance predict --engine spark`: the same job on Apache Spark.

Parquet in, Parquet out. Articles are cleaned and split on the executors with the same
ingestion code as the local engine (`labeling.ingest.pipeline.article_sentences`), sentences are
scored by the MLflow model through `mlflow.pyfunc.spark_udf`, and the rows (same columns
and values as the local engine) are written as a folder of Parquet parts that is renamed
into place only when complete. pyspark is an optional dependency (`pip install
'stance-lab[spark]'`), imported only here.

On a cluster, spark-submit the CLI's entry script (training/cli/spark_submit.py; the
command sequence is in the README, "On Spark: --engine spark"). Inputs and outputs are handed
to Spark as the strings the user typed (`hdfs://namenode:9000/x` keeps its host), and the
ingestion settings travel to the executors as data (a dict), never re-read there.
"""
from __future__ import annotations

import glob
import os
import re
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from labeling.io import atomic_dir, write_jsonl

SPLIT_COLUMNS = ["article_id", "sentence_id", "index", "text", "source", "line", "error"]


def require_pyspark() -> None:
    """Raise RuntimeError with the install hint when pyspark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise RuntimeError("--engine spark needs pyspark: pip install 'stance-lab[spark]' (and Java 17)") from None


def spark_session(master: str | None, app_name: str = "stance-predict", driver_memory: str | None = None,
                  python: str | None = None):
    """A SparkSession; `master` None keeps what spark-submit configured (its Python settings too).

    With a `master` (any: local, spark://, yarn, k8s://), the executors run `python` (a path on
    the workers), else PYSPARK_PYTHON when set, else this interpreter (right when the workers
    share this virtualenv's path); pyspark reads PYSPARK_PYTHON when the context starts, and
    a worker left to its own `python3` lacks the project's packages. Local sessions bind to
    127.0.0.1 and run without the web UI; on a cluster the executors' temporary files go to
    their work folders (spark.executorEnv.TMPDIR=.).
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if master is not None:
        builder = builder.master(master)
        os.environ["PYSPARK_PYTHON"] = python or os.environ.get("PYSPARK_PYTHON") or sys.executable
        if master.startswith("local"):
            builder = (builder.config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
                       .config("spark.driver.host", "127.0.0.1"))
        else:
            # MLflow unzips the model into each executor Python's temporary folder and never removes
            # it; "." is the executor's own work folder, which the cluster manager removes
            builder = builder.config("spark.executorEnv.TMPDIR", ".")
    if driver_memory:
        builder = builder.config("spark.driver.memory", driver_memory)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_path(uri: str | None) -> str | None:
    """`file:/a/b` (how Spark names local files) as `/a/b`; other strings unchanged."""
    if uri is not None and uri.startswith("file:"):
        return urllib.parse.unquote(urllib.parse.urlparse(uri).path)
    return uri


def result_struct(tags: Sequence[str]):
    """The UDF's result type: one double per tag plus the `labels` list, as output_frame builds."""
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    return StructType([StructField(t, DoubleType()) for t in tags] + [StructField("labels", ArrayType(StringType()))])


def split_schema():
    """Schema of the split step: sentence id columns, or the source, line and message of an error."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType([
        StructField("article_id", StringType()), StructField("sentence_id", StringType()),
        StructField("index", LongType()), StructField("text", StringType()),
        StructField("source", StringType()), StructField("line", LongType()), StructField("error", StringType()),
    ])


def split_articles(batches: Iterator[pd.DataFrame], ingest_options: Any) -> Iterator[pd.DataFrame]:
    """mapInPandas body: article rows (with `_source`, `_line`) -> sentence rows or error rows.

    `ingest_options` is an IngestOptions or its `model_dump()` (what the driver ships: the
    effective settings as data). Records become articles through the local readers' own
    function, so both engines read a row alike.
    """
    from labeling.ingest.pipeline import IngestOptions, article_sentences
    from labeling.ingest.readers import ReadError, record_article

    if isinstance(ingest_options, dict):
        ingest_options = IngestOptions.model_validate(ingest_options)

    for frame in batches:
        out: list[dict] = []
        for record in frame.to_dict(orient="records"):
            article = record_article(record, record["_source"], int(record["_line"]), ingest_options.read)
            if isinstance(article, ReadError):
                out.append({"source": article.path, "line": article.line, "error": article.message})
                continue
            for s in article_sentences(article, ingest_options):
                out.append({"article_id": s["article_id"], "sentence_id": s["sentence_id"], "index": s["index"],
                            "text": s["text"], "source": None, "line": None, "error": None})
        yield pd.DataFrame(out, columns=SPLIT_COLUMNS)


def sentence_rows(frame: Any, text_col: str, id_col: str):
    """Spark columns of `--sentences` input in the local engine's terms (see training.predict.engine.sentence_row)."""
    from pyspark.sql import functions as F

    names = set(frame.columns)
    text = F.col(text_col) if text_col in names else F.lit(None).cast("string")
    sid = F.col(id_col).cast("string") if id_col in names else F.lit(None).cast("string")
    if "sentence_id" in names:
        sid = F.coalesce(F.when(sid != "", sid), F.col("sentence_id").cast("string"))
    sid = F.coalesce(F.when(sid != "", sid), F.concat(F.lit("s-"), F.substring(F.sha1(text), 1, 16)))
    has_text = text.isNotNull() & (F.length(F.trim(text)) > 0)
    return frame.select(
        (F.when(F.col("article_id").cast("string") != "", F.col("article_id").cast("string")) if "article_id" in names
         else F.lit(None).cast("string")).alias("article_id"),
        sid.alias("sentence_id"),
        (F.col("index").cast("long") if "index" in names else F.lit(None).cast("long")).alias("index"),
        text.alias("text"),
        F.col("_source").alias("source"), F.col("_line").alias("line"),
        F.when(~has_text, F.lit(f"record without text (field {text_col!r})")).alias("error"),
    )


def spark_failure(what: str, exc: Exception) -> ValueError:
    """One line for a Spark/Hadoop error (its first line names the cause, e.g. an unknown host)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return ValueError(f"{what}: {lines[0] if lines else type(exc).__name__}")


def _read_inputs(spark: Any, inputs: Sequence[str]) -> Any:
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    try:
        frame = spark.read.parquet(*inputs)
    except PySparkException as exc:
        raise spark_failure("cannot read " + ", ".join(inputs), exc) from None
    # _metadata.row_index is the 1-based row number within its file, as the local readers report.
    return frame.withColumn("_source", F.col("_metadata.file_path")).withColumn("_line", F.col("_metadata.row_index") + 1)


def is_remote(uri: str) -> bool:
    """True for store URIs such as hdfs:/..., s3a://... (a pathlib Path keeps one slash)."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", uri)) and not uri.startswith("file:")


def check_parquet_inputs(inputs: Sequence[str]) -> tuple[list[str], list[dict]]:
    """Split local inputs (files, folders, globs) into readable Parquet files and error records:
    one corrupt file would otherwise fail the whole Spark job. Remote URIs pass unchecked.
    """
    import pyarrow.parquet as pq

    good, errors = [], []
    for item in inputs:
        if is_remote(item):
            good.append(item)
            continue
        files = []
        for match in map(Path, sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]):
            # a folder (e.g. an earlier Spark output) stands for the Parquet parts inside it
            files += sorted(p for p in match.rglob("*.parquet") if p.is_file()) if match.is_dir() else [match]
        if not files:
            errors.append({"source": item, "line": None, "error": "no .parquet files here"})
        for f in files:
            if not f.exists():
                errors.append({"source": str(f), "line": None, "error": "no such file"})
                continue
            try:
                pq.ParquetFile(f).metadata
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for corrupt files; all are reported
                errors.append({"source": str(f), "line": None, "error": f"not a readable Parquet file: {exc}"})
                continue
            good.append(str(f.resolve()))
    return good, errors


def _write_parquet(frame: Any, target: str) -> None:
    """Write a Spark frame as a Parquet folder; local targets appear only when complete."""
    if is_remote(target):
        # Non-local stores: Spark's commit protocol writes _SUCCESS only after every part.
        from pyspark.errors import PySparkException

        try:
            frame.write.mode("overwrite").parquet(target)
        except PySparkException as exc:
            raise spark_failure(f"cannot write {target}", exc) from None
        return
    with atomic_dir(Path(target)) as tmp:
        frame.write.mode("overwrite").parquet(str(tmp.resolve()))


def _summary_udf(tags: list[str], top_n: int):
    import pyarrow as pa

    from training.predict.summary import SummaryBuilder

    def summarize_group(frame: pd.DataFrame) -> pd.DataFrame:
        # Sorted by index: the local engine adds sentences in text order, which decides ties.
        frame = frame.sort_values("index", kind="stable")
        builder = SummaryBuilder(tags, top_n)
        builder.add(pa.Table.from_pydict({
            "article_id": frame["article_id"].tolist(), "text": frame["text"].tolist(),
            "labels": [list(x) if x is not None else [] for x in frame["labels"]],
            **{t: frame[t].astype(float).tolist() for t in tags}}))
        return builder.flush().to_pandas()

    return summarize_group


def run_spark(spark: Any, inputs: Sequence[str], model_uri: str, tags: Sequence[str], out: str, *,
              sentences: bool, ingest_options: Any = None, text_col: str = "text", id_col: str = "id",
              summary: str | None = None, errors_file: Path | None = None, top_n: int = 3) -> dict[str, Any]:
    """Score Parquet `inputs` on Spark with the MLflow model at `model_uri` (training.registry.pyfunc_uri);
    write `out` (a Parquet folder).

    `tags` are the model's tags (schema order). Articles are split with `ingest_options`
    (labeling.ingest.pipeline.IngestOptions); `sentences` reads records (`id_col`, `text_col`).
    Returns {"articles", "sentences", "errors": [error dicts], "seconds"}. Unreadable
    input files and records without text are returned as errors (and written to
    `errors_file`), the rest is scored.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from training.predict.summary import summary_schema
    # Here, not at the top: executors import this module (split_articles, the summary UDF) and
    # need no tracking code (matplotlib, the full mlflow) in a scoring-only environment.
    from training.registry import spark_udf

    started = time.perf_counter()
    tags = list(tags)
    good, errors = check_parquet_inputs(inputs)
    if not good:
        raise ValueError("no readable Parquet input: " + "; ".join(f"{e['source']}: {e['error']}" for e in errors))
    frame = _read_inputs(spark, good)
    if sentences:
        split = sentence_rows(frame, text_col, id_col)
    else:
        from training.predict.engine import for_prediction

        # Resolved on the driver and shipped as data: executors never look for configs/.
        settings = for_prediction(ingest_options).model_dump(mode="json")  # as the local engine: no language detection
        split = frame.mapInPandas(lambda batches: split_articles(batches, settings), split_schema())
    split = split.persist(StorageLevel.MEMORY_AND_DISK)
    with tempfile.TemporaryDirectory(prefix="stance-spark-job-") as scratch:  # the model's zip for the executors
        udf = spark_udf(spark, model_uri, result_struct(tags), Path(scratch))
        scored = (split.filter(F.col("error").isNull()).withColumn("_p", udf(F.struct("text")))
                  .select("article_id", "sentence_id", "index", "text", F.col("_p.labels").alias("labels"),
                          *[F.col("_p").getField(t).alias(t) for t in tags]))
        _write_parquet(scored, out)
    written = spark.read.parquet(out)
    if summary is not None:
        grouped = written.filter(F.col("article_id").isNotNull()).groupBy("article_id")
        _write_parquet(grouped.applyInPandas(_summary_udf(tags, top_n), from_arrow_schema(summary_schema(tags))), summary)
    for row in split.filter(F.col("error").isNotNull()).select("source", "line", "error").toLocalIterator():
        errors.append({"source": local_path(row["source"]), "line": row["line"], "error": row["error"]})
    split.unpersist()
    if errors_file is not None and (errors or Path(errors_file).exists()):
        write_jsonl(errors_file, errors)
    counts = written.agg(F.count("*").alias("n"), F.countDistinct("article_id").alias("a")).collect()[0]
    return {"articles": int(counts["a"]), "sentences": int(counts["n"]), "errors": errors,
            "seconds": time.perf_counter() - started}
