"""configs/tracking.yaml is honoured by every command that touches the store, and a --config
file that does not exist is an error, never silently the defaults."""
from __future__ import annotations

import json

import pytest

from labeling.config import ConfigError, load_config
from tests.helpers import TAGS, cli_invoker, labeled_rows, write_jsonl
from training import registry, tracking
from training.dataset import DatasetConfig


@pytest.fixture
def tracking_yaml(tmp_path, monkeypatch):
    """configs/tracking.yaml pointed at a fresh SQLite store in tmp_path (no MLFLOW_TRACKING_URI)."""
    store = f"sqlite:///{tmp_path / 'cfg-store' / 'mlflow.db'}"
    path = tmp_path / "tracking.yaml"
    path.write_text(f"tracking_uri: {store}\n", encoding="utf-8")
    monkeypatch.setattr(tracking, "TRACKING_CONFIG", path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return store


def test_resolve_tracking_uri_reads_configs_tracking_yaml(tracking_yaml, monkeypatch):
    assert tracking.resolve_tracking_uri() == tracking_yaml
    assert tracking.resolve_tracking_uri("sqlite:///flag.db") == "sqlite:///flag.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert tracking.resolve_tracking_uri() == "sqlite:///env.db"


def test_config_file_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        load_config(DatasetConfig, tmp_path / "nope.yaml")
    # the project's own default file is optional (an installed package has no configs/)
    assert load_config(DatasetConfig, default=tmp_path / "absent.yaml") == DatasetConfig()


@pytest.mark.parametrize("command", [
    ["dataset", "build", "{src}", "--out", "{tmp}/ds"],
    ["train", "baseline", "{src}"],
    ["ingest", "{src}", "--out", "{tmp}/s.jsonl"],
    ["predict", "{src}", "--sentences", "--model", "{tmp}", "--out", "{tmp}/p.jsonl"],
    ["demo"],
])
def test_cli_refuses_a_config_path_that_does_not_exist(tmp_path, command):
    src = write_jsonl(tmp_path / "rows.jsonl", labeled_rows())
    args = [a.format(src=src, tmp=tmp_path) for a in command]
    result = cli_invoker()(*args, "--config", tmp_path / "typo.yaml")
    assert result.exit_code == 2, result.output
    assert "typo.yaml: no such config file" in " ".join(result.output.split())


@pytest.mark.slow
def test_evaluate_predict_and_label_push_load_registry_models_from_the_configured_store(
        tracking_yaml, baseline_dir, tmp_path, monkeypatch):
    with tracking.tracked_run(tracking_yaml, "cfg-test"):
        registry.log_model(baseline_dir, "stance-cfg", ["The army threatened to strike."])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri sets it in-process
    stance, uri = cli_invoker(env={"COLUMNS": "200"}), "models:/stance-cfg/1"
    labeled = write_jsonl(tmp_path / "labeled.jsonl", labeled_rows())
    result = stance("evaluate", uri, labeled)
    assert result.exit_code == 0, result.output
    assert "model stance-cfg v1 (baseline)" in result.output

    records = write_jsonl(tmp_path / "s.jsonl", [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(labeled_rows()[:5])])
    result = stance("predict", records, "--sentences", "--model", uri, "--out", tmp_path / "p.jsonl")
    assert result.exit_code == 0, result.output
    assert [r["sentence_id"] for r in map(json.loads, (tmp_path / "p.jsonl").read_text().splitlines())] == \
        [f"r{i}" for i in range(5)]

    sentences = [{"sentence_id": f"s-{i:016x}", "group_id": f"g-{i:016x}", "article_id": "a-1", "index": i,
                  "text": r["text"], "for_labeling": True} for i, r in enumerate(labeled_rows()[:3])]
    src = write_jsonl(tmp_path / "sentences.jsonl", sentences)
    result = stance("label", "push", src, "--to-file", tmp_path / "import.json", "--model", uri)
    assert result.exit_code == 0, result.output
    tasks = json.loads((tmp_path / "import.json").read_text())
    assert all(t["predictions"][0]["model_version"] == "stance-cfg v1" for t in tasks)  # NAME vN, as the ML backend
    assert set(TAGS) >= {c for t in tasks for r in t["predictions"][0]["result"] for c in r["value"]["choices"]}


@pytest.mark.slow
def test_predict_tracking_uri_flag_wins_over_the_config(tracking_yaml, baseline_dir, tmp_path, monkeypatch):
    other = f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}"
    with tracking.tracked_run(other, "flag-test"):
        registry.log_model(baseline_dir, "stance-flag", ["The army threatened to strike."])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri sets it in-process
    records = write_jsonl(tmp_path / "s.jsonl", [{"id": "r0", "text": "The Kremlin denied the reports."}])
    stance = cli_invoker()
    args = ["predict", records, "--sentences", "--model", "models:/stance-flag/1", "--out", tmp_path / "p.jsonl"]
    missing = stance(*args)
    assert missing.exit_code == 2 and "does not resolve" in missing.output
    assert stance(*args, "--tracking-uri", other).exit_code == 0
