"""--engine spark beyond local[*] (issue 15): a storage URI with a host reaches Spark as typed, and
a real standalone cluster (a master and one worker on 127.0.0.1, the worker's Python a bare
virtualenv without the project) runs the README's commands and `stance predict --master
spark://...` with the local engine's rows, an edited configs/ingest.yaml honoured on the executors.

The cluster is small (1 executor core, 512 MB) and always stopped in the fixture's teardown.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import TAGS, cli_invoker, labeled_rows

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
stance = cli_invoker()

ARTICLES = [
    {"id": "A1", "title": "Border tension",
     "body": "The army threatened to strike the border towns within days. Officials warned that troops were massing "
             "near the frontier.\n\nThe Kremlin denied the reports as baseless."},
    {"id": "A2", "title": None,
     "body": "Both sides agreed to restore dialogue and hold talks next month. The ministers signed a ceasefire agreement."},
    {"id": "A3", "title": "Sanctions",
     "body": "Brussels accused Moscow of sabotage. Moscow rejected the claims as baseless and threatened a response."},
    {"id": "A4", "title": None, "body": "The council met in Geneva. The talks will resume on Monday."},
]


def test_a_storage_uri_with_a_host_reaches_spark_unchanged(tmp_path, baseline_dir, monkeypatch):
    from pyspark.sql.readwriter import DataFrameReader

    handed: list[str] = []
    original = DataFrameReader.parquet

    def recording(self, *paths, **options):
        handed.extend(paths)
        return original(self, *paths, **options)

    monkeypatch.setattr(DataFrameReader, "parquet", recording)
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # the session sets it; restored afterwards
    uri = "hdfs://namenode.invalid:9000/news/2026-11/articles.parquet"
    result = stance("predict", uri, "--model", baseline_dir, "--out", "hdfs://namenode.invalid:9000/pred/2026-11.parquet",
                    "--errors", tmp_path / "errors.jsonl", "--engine", "spark", "--master", "local[1]")
    message = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert handed == [uri]
    assert f"error: cannot read {uri}: java.net.UnknownHostException: namenode.invalid" in message
    assert "Traceback" not in result.output


# --- a real standalone cluster ---------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _base_env(path: str) -> dict[str, str]:
    """A clean environment: no PYSPARK_PYTHON, no MLFLOW_TRACKING_URI from the test process."""
    java = Path(shutil.which("java") or "/usr/bin/java").resolve().parent
    env = {"PATH": f"{path}:{java}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
           "SPARK_HOME": str(_spark_home()), "SPARK_LOCAL_IP": "127.0.0.1"}
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return env


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the JVM and the executors it started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_for_worker(ui_port: int, procs: list[subprocess.Popen], logs: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
                if any(w.get("state") == "ALIVE" for w in json.load(resp).get("workers", [])):
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError("the standalone cluster did not start:\n" + "\n".join(
        f.read_text(errors="replace")[-3000:] for f in sorted(logs.glob("*.log"))))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """spark://127.0.0.1:PORT with one worker (1 core, 1 GB) whose `python3` is a bare virtualenv
    (no pandas, no project): executors run the project only when the driver names its Python."""
    if shutil.which("java") is None:
        pytest.fail("Java 17 is needed for the Spark tests: run `make sysdeps` (openjdk-17-jre-headless)")
    root = tmp_path_factory.mktemp("cluster")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "worker-venv")], check=True)
    worker_env = _base_env(str(root / "worker-venv" / "bin"))
    worker_env["TMPDIR"] = str(root / "worker-tmp")  # the executors' default: none of the jobs may leave files there
    (root / "worker-tmp").mkdir()
    assert subprocess.run(["python3", "-c", "import pandas"], env=worker_env, capture_output=True).returncode != 0
    port, ui_port = _free_port(), _free_port()
    spark_class = str(_spark_home() / "bin" / "spark-class")
    procs: list[subprocess.Popen] = []
    try:
        for name, args in (
            ("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                        "--webui-port", str(ui_port)]),
            ("worker", ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                        "--webui-port", str(_free_port()), "--work-dir", str(root / "work"), f"spark://127.0.0.1:{port}"]),
        ):
            with open(root / f"{name}.log", "wb") as log:
                procs.append(subprocess.Popen([spark_class, *args], env=worker_env, stdout=log, stderr=subprocess.STDOUT,
                                              cwd=root, start_new_session=True))
        _wait_for_worker(ui_port, procs, root)
        yield f"spark://127.0.0.1:{port}"
        # the README's spark-submit and `stance predict --master` send the executors' temporary files
        # (MLflow's unzipped model among them) to their work folders
        assert [p.name for p in (root / "worker-tmp").iterdir()] == []
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="module")
def registered(tmp_path_factory, baseline_dir):
    """A sqlite store holding the tiny baseline as models:/stance-cluster@champion."""
    from training import registry, tracking

    store = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    with tracking.tracked_run(store, "cluster-test"):
        info = registry.log_model(baseline_dir, "stance-cluster", ["The army threatened to strike."])
    registry.promote(store, "stance-cluster", info["version"], "champion")
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)  # mlflow.set_tracking_uri sets it in-process
    return store, "models:/stance-cluster@champion"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    sentences, articles = root / "sentences.parquet", root / "articles.parquet"
    pd.DataFrame([{"id": r["id"], "text": r["text"], "article_id": r["article_id"]} for r in labeled_rows()]).to_parquet(sentences)
    pd.DataFrame(ARTICLES).to_parquet(articles)  # the text is in `body`: configs/ingest.yaml says so below
    return {"sentences": sentences, "articles": articles}


def _readme_job() -> str:
    """The README's standalone command sequence, from `# every job` to the end of its block."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("On a standalone cluster (`spark://`)"):]
    block = section[section.index("```bash\n") + len("```bash\n"):]
    block = block[:block.index("```")]
    return block[block.index("# every job"):]


def _job_folder(root: Path) -> Path:
    """What the README's `# once` lines make, stood in for (a real `pip install` of the project is
    minutes and needs the network; docs/benchmarks.md measures the packed environment): the
    driver's build-venv/bin/python runs an installed copy of the packages (site-packages without
    configs/), the archive's bin/python the project's interpreter. The job runs from a folder
    with the checkout's configs/ and one edit: articles' text is in the `body` column."""
    job, site = root / "job", root / "site-packages"
    for package in ("labeling", "training"):
        shutil.copytree(REPO / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "configs", job / "configs")
    ingest = yaml.safe_load((job / "configs" / "ingest.yaml").read_text()) or {}
    ingest.setdefault("read", {})["text_col"] = "body"
    (job / "configs" / "ingest.yaml").write_text(yaml.safe_dump(ingest))
    (job / "training" / "cli").mkdir(parents=True)
    shutil.copy(REPO / "training" / "cli" / "spark_submit.py", job / "training" / "cli" / "spark_submit.py")
    driver = job / "build-venv" / "bin" / "python"
    driver.parent.mkdir(parents=True)
    driver.write_text(f'#!/bin/sh\nPYTHONPATH={site}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} "$@"\n')
    driver.chmod(0o755)
    executor = root / "python"
    executor.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    executor.chmod(0o755)
    with tarfile.open(job / "stance-venv.tar.gz", "w:gz") as tar:
        tar.add(executor, arcname="bin/python")
    return job


def _with_extra(script: str, extra: str) -> str:
    """`extra` appended to the spark-submit command (the end of its last continued line)."""
    lines = script.splitlines()
    end = next(i for i, line in enumerate(lines) if "training/cli/spark_submit.py" in line)
    while lines[end].rstrip().endswith("\\"):
        end += 1
    lines[end] += extra
    return "\n".join(lines) + "\n"


def _sorted(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path).sort_values("sentence_id").reset_index(drop=True)
    frame["labels"] = frame["labels"].map(list)
    return frame


def _assert_same_rows(local: Path, spark: Path) -> None:
    local_rows, spark_rows = _sorted(local), _sorted(spark)
    assert list(spark_rows.columns) == list(local_rows.columns) == ["article_id", "sentence_id", "index", "text", "labels", *TAGS]
    assert len(local_rows) > 0
    pd.testing.assert_frame_equal(spark_rows, local_rows, check_dtype=False, atol=1e-9, rtol=0)


def _assert_same_summary(local: Path, spark: Path) -> None:
    frames = []
    for path in (local, spark):
        frame = pd.read_parquet(path).sort_values("article_id").reset_index(drop=True)
        for tag in TAGS:
            frame[f"top_{tag}"] = frame[f"top_{tag}"].map(list)
        frames.append(frame)
    assert len(frames[0]) > 0
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False)


def _local(tmp_path: Path, registered, src: Path, *extra: str) -> tuple[Path, Path]:
    store, model = registered
    tmp_path.mkdir(exist_ok=True)
    out, summary = tmp_path / "local.parquet", tmp_path / "local-summary.parquet"
    result = stance("predict", src, "--model", model, "--tracking-uri", store, "--out", out, "--summary", summary, *extra)
    assert result.exit_code == 0, result.output
    return out, summary


def test_the_readme_commands_on_a_standalone_cluster_give_the_local_rows(tmp_path, cluster, registered, inputs):
    store, model = registered
    job = _job_folder(tmp_path)
    out = {kind: (tmp_path / f"{kind}-pred.parquet", tmp_path / f"{kind}-summary.parquet") for kind in inputs}
    for kind, extra in (("sentences", " --sentences"), ("articles", "")):
        script = _readme_job()
        for readme_text, here in {
            "spark://spark-master:7077": cluster, "http://mlflow.internal:5000": store,
            "--total-executor-cores 16 --executor-cores 4 --executor-memory 4g":
                "--total-executor-cores 1 --executor-cores 1 --executor-memory 512m",
            "hdfs://namenode:9000/news/2026-11/articles.parquet": str(inputs[kind]),
            "models:/stance-finetune@champion": model,
            "hdfs://namenode:9000/stance/pred/2026-11.parquet": str(out[kind][0]),
            "hdfs://namenode:9000/stance/pred/2026-11-articles.parquet": str(out[kind][1]),
        }.items():
            assert readme_text in script, f"the README's cluster commands no longer hold {readme_text!r}"
            script = script.replace(readme_text, here)
        script = _with_extra(script, extra)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=job, capture_output=True, text=True,
                              env=_base_env(str(Path(sys.executable).parent)), timeout=240)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    local_out, local_summary = _local(tmp_path / "s", registered, inputs["sentences"], "--sentences")
    _assert_same_rows(local_out, out["sentences"][0])
    _assert_same_summary(local_summary, out["sentences"][1])
    # the edited configs/ingest.yaml (text in `body`) was read by the driver and honoured on the executors
    local_out, local_summary = _local(tmp_path / "a", registered, inputs["articles"], "--text-col", "body")
    _assert_same_rows(local_out, out["articles"][0])
    _assert_same_summary(local_summary, out["articles"][1])
    assert pd.read_parquet(out["articles"][0])["article_id"].nunique() == len(ARTICLES)


def test_stance_predict_on_a_spark_master_runs_the_executors_on_the_project_python(tmp_path, cluster, registered, inputs):
    store, model = registered
    out, summary = tmp_path / "pred.parquet", tmp_path / "summary.parquet"
    env = _base_env(str(Path(sys.executable).parent))  # no PYSPARK_PYTHON: the worker's own python3 lacks pandas
    scratch = tmp_path / "driver-tmp"  # the driver's temporary files: none may outlive the job
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    done = subprocess.run([sys.executable, "-m", "training.cli", "predict", str(inputs["sentences"]), "--sentences",
                           "--model", model, "--tracking-uri", store, "--out", str(out), "--summary", str(summary),
                           "--engine", "spark", "--master", cluster], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert [p.name for p in scratch.iterdir()] == []
    local_out, local_summary = _local(tmp_path / "local", registered, inputs["sentences"], "--sentences")
    _assert_same_rows(local_out, out)
    _assert_same_summary(local_summary, summary)
