"""End to end through the CLI on a real SQLite MLflow store in tmp_path: build, train, register,
promote, reload by alias in a fresh process, evaluate, compare, report, export."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import cli_invoker, make_rows, write_jsonl


@pytest.fixture
def cli():
    stance = cli_invoker(env={"COLUMNS": "220"})

    def invoke(*args: str, code: int = 0):
        result = stance(*args)
        assert result.exit_code == code, result.output + repr(result.exception)
        return result.output

    return invoke


@pytest.fixture
def fast_config(tmp_path):
    path = tmp_path / "baseline.yaml"
    path.write_text("c_grid: [1.0, 4.0]\ncv_folds: 2\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_train_register_promote_reload_evaluate_compare(tmp_path, cli, fast_config):
    store = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    labeled = write_jsonl(tmp_path / "labeled.jsonl", make_rows(80))
    held_out = write_jsonl(tmp_path / "held_out.jsonl", make_rows(24, seed=9, prefix="h"))

    out = cli("dataset", "build", labeled, "--out", tmp_path / "ds")
    assert "train" in out and (tmp_path / "ds" / "dataset_meta.json").is_file()
    out = cli("train", "baseline", tmp_path / "ds", "--config", fast_config, "--tracking-uri", store)
    assert "registered models:/stance-baseline/1" in out and "macro F1" in out
    cli("models", "promote", "stance-baseline", "1", "--alias", "champion", "--tracking-uri", store)

    # a fresh interpreter that only knows the store: the alias must resolve and score, and the
    # model's downloaded files are gone when it exits (MLflow alone leaves a copy per load)
    scratch = tmp_path / "process-tmp"
    scratch.mkdir()
    code = ("import json; from training.registry import load_model; "
            "m = load_model('models:/stance-baseline@champion'); "
            "from training.model_dir import output_frame; "
            "f = output_frame(m.scorer.tags, m.scorer.thresholds, m.scorer.predict_proba(['Iran accused Turkey.'])); "
            "print(json.dumps({'cols': list(f.columns), 'version': m.version, 'labels': f['labels'][0], "
            "'dir': str(m.scorer.model_dir), 'files': m.scorer.model_dir.joinpath('meta.json').is_file()}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MLFLOW_TRACKING_URI": store, "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["cols"] == ["escalation", "de-escalation", "accusation", "denial", "labels"]
    assert got["version"] == "1" and "accusation" in got["labels"]
    assert got["files"] and got["dir"].startswith(str(scratch))
    assert list(scratch.iterdir()) == []

    out = cli("evaluate", "models:/stance-baseline@champion", held_out, "--log-to-run", "--tracking-uri", store)
    assert "macro-F1" in out and "logged to run" in out
    out = cli("evaluate", "models:/stance-baseline@champion", held_out, "--by", "article_id:prefix",
              "--log-to-run", "--tracking-uri", store)
    assert "by article_id:prefix" in out and "exact" in out
    out = cli("runs", "compare", "--tracking-uri", store)
    assert "baseline v1 ★" in out and "val F1" in out and "K-fold" not in out  # the champion, marked
    cli("runs", "report", "--out", tmp_path / "report.html", "--tracking-uri", store)
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()
    cli("models", "export", "models:/stance-baseline@champion", "--out", tmp_path / "exported", "--tracking-uri", store)
    assert (tmp_path / "exported" / "MLmodel").is_file()
    assert "champion" in cli("models", "list", "--tracking-uri", store)

    from training import tracking

    [run] = [r for r in tracking.search_runs(store, "stance") if r["status"] == "FINISHED"]
    metrics = run["metrics"]
    for key in ("test_macro_f1", "test_macro_f1_low", "test_macro_f1_high", "test_f1_denial",
                "test_pr_auc_escalation", "val_macro_f1", "train_seconds", "eval_held_out_macro_f1",
                "eval_held_out_article_id_prefix_a_macro_f1", "eval_held_out_exact_match"):
        assert key in metrics, key
    assert run["params"]["data.fingerprint"] == run["tags"]["data.fingerprint"]
    # named by what it is; headline metrics under short names; the experiment opens on its runs
    assert run["name"].startswith(f"baseline-{run['tags']['data.fingerprint'][:6]}-")
    assert {"macro_f1/val", "macro_f1/test", "exact/test", "f1/denial"} <= set(metrics)
    assert metrics["macro_f1/test"] == metrics["test_macro_f1"]
    import mlflow

    exp = mlflow.MlflowClient(store).get_experiment_by_name("stance")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"

    # leakage: the labeled file holds the training and validation sentences
    out = cli("evaluate", "models:/stance-baseline@champion", labeled, "--log-to-run", "--tracking-uri", store)
    assert "WARNING:" in out and "seen by the model" in out and "in train" in out and "inflated" in out
    [run] = [r for r in tracking.search_runs(store, "stance") if r["status"] == "FINISHED"]
    assert "in train" in run["tags"]["eval_labeled_overlap"]
    out = cli("evaluate", "models:/stance-baseline@champion", labeled, "--exclude-train", "--tracking-uri", store)
    assert "dropped" in out and "WARNING" not in out
    out = cli("evaluate", "models:/stance-baseline@champion", tmp_path / "ds", "--split", "test", "--tracking-uri", store)
    assert "ds test split" in out
    # the template rows repeat a few texts under other groups: at most those are flagged in test
    if seen := re.search(r"(\d+) of (\d+) sentences", out):
        assert int(seen[1]) <= 0.2 * int(seen[2])
    out = cli("evaluate", "models:/stance-baseline@champion", tmp_path / "ds", "--split", "train", "--tracking-uri", store)
    assert "WARNING:" in out and "(100%)" in out
    cli("evaluate", "models:/stance-baseline@champion", labeled, "--split", "test", "--tracking-uri", store, code=2)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    plots = {a.path for a in client.list_artifacts(run["run_id"], "plots")}
    assert {"plots/test_pr_curves.png", "plots/test_tag_matrix.png"} <= plots
    inputs = client.get_run(run["run_id"]).inputs.dataset_inputs
    assert {i.dataset.digest for i in inputs} == {run["tags"]["data.fingerprint"]}


@pytest.mark.slow
def test_cv_reports_mean_and_spread(tmp_path, cli, fast_config):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    labeled = write_jsonl(tmp_path / "labeled.jsonl", make_rows(60))
    out = cli("train", "baseline", labeled, "--cv", "3", "--config", fast_config, "--tracking-uri", store)
    assert "3-fold cross-validation" in out and "macro_f1" in out


def test_bad_input_fails_before_training(tmp_path, cli):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "text": "x", "labels": ["anger"]}])
    out = cli("train", "baseline", bad, "--tracking-uri", f"sqlite:///{tmp_path / 'db'}", code=2)
    assert "bad.jsonl:1: unknown tag(s) 'anger'" in out
    assert not (tmp_path / "db").exists()


def test_too_few_examples_for_cv_is_refused(tmp_path, cli):
    labeled = write_jsonl(tmp_path / "l.jsonl", make_rows(40))
    out = cli("train", "baseline", labeled, "--cv", "20", "--tracking-uri", f"sqlite:///{tmp_path / 'db'}", code=2)
    assert "at least 20 examples of every tag" in out


def test_unreachable_tracking_server_fails_before_training(tmp_path, cli):
    labeled = write_jsonl(tmp_path / "l.jsonl", make_rows(40))
    out = cli("train", "baseline", labeled, "--tracking-uri", "http://127.0.0.1:9", code=2)
    assert "MLflow tracking server http://127.0.0.1:9 is not reachable" in out


def test_missing_backbone_fails_before_training(tmp_path, cli):
    labeled = write_jsonl(tmp_path / "l.jsonl", make_rows(40))
    out = cli("train", "finetune", labeled, "--backbone", str(tmp_path / "no-such-model"),
              "--tracking-uri", f"sqlite:///{tmp_path / 'db'}", code=2)
    assert "no-such-model" in out


@pytest.mark.slow
def test_distil_learns_from_a_registered_teacher_and_records_it(tmp_path, cli):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    labeled = write_jsonl(tmp_path / "labeled.jsonl", make_rows(60))
    cli("dataset", "build", labeled, "--out", tmp_path / "ds")
    quick = tmp_path / "quick.yaml"
    quick.write_text("epochs: 1\nmax_length: 32\nbatch_size: 16\nnum_threads: 2\nprogress: false\n", encoding="utf-8")
    cli("train", "finetune", tmp_path / "ds", "--config", quick, "--tracking-uri", store)

    out = cli("train", "distil", tmp_path / "ds", "--teacher", "models:/stance-finetune/1", "--config", quick,
              "--num-layers", "2", "--layer-choice", "spread", "--weight", "0.8", "--tracking-uri", store)
    assert "registered models:/stance-distilled/1" in out

    from training import tracking
    from training.registry import load_model

    [run] = [r for r in tracking.search_runs(store, "stance") if r["tags"].get("model_kind") == "distil"]
    assert run["tags"]["teacher_uri"] == "models:/stance-finetune/1"
    assert run["tags"]["teacher_model"] == "stance-finetune/1" and run["tags"]["teacher_run_id"]
    assert run["params"]["model.num_layers"] == "2" and run["params"]["model.distill_weight"] == "0.8"
    assert run["params"]["model.layer_choice"] == "spread"
    student = load_model("models:/stance-distilled/1", store).scorer
    hf_config = json.loads((student.model_dir / "hf" / "config.json").read_text())
    assert hf_config["num_hidden_layers"] == 2 and student.predict_proba(["Troops massed."]).shape == (1, 4)


def test_distil_refuses_a_teacher_that_is_not_a_transformer(tmp_path, cli, fast_config):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    labeled = write_jsonl(tmp_path / "labeled.jsonl", make_rows(60))
    cli("train", "baseline", labeled, "--config", fast_config, "--tracking-uri", store)
    out = cli("train", "distil", labeled, "--teacher", "models:/stance-baseline/1", "--tracking-uri", store, code=2)
    assert "is a baseline model; distillation needs a fine-tuned transformer" in out
    out = cli("train", "distil", labeled, "--teacher", "models:/no-such/1", "--tracking-uri", store, code=2)
    assert "does not resolve" in out
