"""What the Spark engine hands on, checked without Spark: the configs/ folder an installed
driver reads, ingestion settings shipped as data, Spark errors as one line, and registry URIs
refused when no tracking store exists or answers (issue 15)."""
from __future__ import annotations

import pandas as pd
import pytest

from labeling.config import config_dir
from labeling.ingest.pipeline import IngestOptions
from tests.helpers import cli_invoker, write_jsonl
from training.predict.engine import for_prediction
from training.predict.spark import SPLIT_COLUMNS, spark_failure, split_articles
from training.registry import load_model, require_store

stance = cli_invoker()


def test_an_installed_package_reads_configs_in_the_working_folder(tmp_path):
    checkout, site, cwd = tmp_path / "checkout", tmp_path / "site-packages", tmp_path / "job"
    (checkout / "configs").mkdir(parents=True)
    site.mkdir()
    assert config_dir(checkout, cwd) == checkout / "configs"
    assert config_dir(site, cwd) == cwd / "configs"


def test_executors_split_with_the_settings_the_driver_shipped_as_data():
    options = IngestOptions.model_validate({"read": {"text_col": "body"}})
    settings = for_prediction(options).model_dump(mode="json")
    assert settings["read"]["text_col"] == "body" and settings["language"]["detect"] is False
    batch = pd.DataFrame([{"id": "A1", "body": "The army threatened to strike the border towns within days.",
                           "_source": "file:/in.parquet", "_line": 1}])
    rows = pd.concat(split_articles(iter([batch]), settings))
    assert list(rows.columns) == SPLIT_COLUMNS
    assert rows["error"].isna().all() and rows["article_id"].tolist() == ["A1"]


def test_a_spark_error_becomes_its_first_line():
    exc = RuntimeError("java.net.UnknownHostException: namenode.invalid\n\tat org.apache.hadoop...")
    assert str(spark_failure("cannot read hdfs://namenode.invalid:9000/x", exc)) == (
        "cannot read hdfs://namenode.invalid:9000/x: java.net.UnknownHostException: namenode.invalid")


def test_a_registry_uri_without_a_store_file_is_refused_and_no_database_is_created(tmp_path):
    store = f"sqlite:///{tmp_path / 'venv' / 'data' / 'mlflow' / 'mlflow.db'}"
    with pytest.raises(ValueError, match=r"does not resolve: no tracking store at sqlite:///.*set --tracking-uri"):
        load_model("models:/stance-finetune@champion", store)
    assert not (tmp_path / "venv").exists()


def test_a_registry_uri_on_a_server_that_does_not_answer_is_refused():
    with pytest.raises(ValueError, match="does not resolve: MLflow tracking server http://127.0.0.1:9 is not reachable"):
        require_store("models:/x@champion", "http://127.0.0.1:9")


def test_predict_refuses_a_registry_uri_without_a_store_in_one_line(tmp_path):
    records = write_jsonl(tmp_path / "s.jsonl", [{"id": "r0", "text": "The Kremlin denied the reports."}])
    store = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    result = stance("predict", records, "--sentences", "--model", "models:/stance-finetune@champion",
                    "--out", tmp_path / "p.jsonl", "--tracking-uri", store)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "no tracking store at" in " ".join(result.output.split())
    assert not (tmp_path / "nowhere").exists()
