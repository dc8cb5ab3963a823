"""A `stance train` process that is killed never leaves a run that looks alive: SIGTERM ends the
run KILLED (as Ctrl-C does), and after SIGKILL `stance runs compare` marks the run GONE."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time

import mlflow
import pytest

from tests.helpers import cli_invoker, make_rows, stance_command, write_jsonl
from training import tracking
from training.runs import GONE, mark_gone_runs

stance = cli_invoker(env={"COLUMNS": "220"})


def _train_until_running(tmp_path):
    """A real `stance train baseline` process, returned once its run is RUNNING in the store."""
    db = tmp_path / "mlruns" / "mlflow.db"
    labeled = write_jsonl(tmp_path / "labeled.jsonl", make_rows(80))
    config = tmp_path / "baseline.yaml"
    config.write_text("c_grid: [1.0, 4.0]\ncv_folds: 2\n", encoding="utf-8")
    # the child's temporary model folder goes under tmp_path: a SIGKILLed process cannot remove it itself
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(stance_command("train", "baseline", labeled, "--config", config, "--tracking-uri", f"sqlite:///{db}"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        # Polled read-only with sqlite itself: an MLflow client would race the child creating the store.
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                if con.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0]:
                    return proc, f"sqlite:///{db}"
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the training run never showed up RUNNING in the store")


def test_sigterm_during_train_ends_the_run_killed(tmp_path):
    proc, store = _train_until_running(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    [run] = tracking.search_runs(store, "stance")
    assert run["status"] == "KILLED"
    assert run["tags"][tracking.PID_TAG] == str(proc.pid) and run["tags"][tracking.HOST_TAG] == socket.gethostname()


def test_a_sigterm_while_the_run_is_being_opened_ends_it_killed(tmp_path, monkeypatch):
    """The run is in the store before mlflow.start_run returns: a SIGTERM then (CI hit it) must
    not unwind past the handlers that end the run."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    real_start_run = mlflow.start_run

    def start_run_then_sigterm(*args, **kwargs):
        run = real_start_run(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return run

    monkeypatch.setattr(mlflow, "start_run", start_run_then_sigterm)
    body_ran, handler_before = False, signal.getsignal(signal.SIGTERM)
    with pytest.raises(tracking.Terminated):
        with tracking.tracked_run(store, "stance"):
            body_ran = True
    [run] = tracking.search_runs(store, "stance")
    assert run["status"] == "KILLED" and not body_ran
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_run_of_a_sigkilled_train_is_marked_gone_and_a_live_one_is_not(tmp_path):
    proc, store = _train_until_running(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    [killed] = tracking.search_runs(store, "stance")
    assert killed["status"] == "RUNNING"  # what the store says, forever

    with tracking.tracked_run(store, "stance", run_name="live-run") as live:  # this process: alive
        marked = {r["run_id"]: r["status"] for r in mark_gone_runs(tracking.search_runs(store, "stance"))}
        result = stance("runs", "compare", "--tracking-uri", store)
    assert marked == {killed["run_id"]: GONE, live.info.run_id: "RUNNING"}
    assert result.exit_code == 0, result.output
    assert result.output.count(GONE) == 1 and result.output.count("RUNNING") == 1
