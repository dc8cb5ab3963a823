"""Tracking against a real SQLite MLflow store in tmp_path: failed runs, unreachable servers, bad URIs."""
from __future__ import annotations

import socket

import pytest

from training import registry, tracking
from training.registry import load_model


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_crashed_run_is_marked_failed(store):
    with pytest.raises(RuntimeError, match="boom"):
        with tracking.tracked_run(store, "exp") as run:
            tracking.log_metrics({"x": 1.0})
            raise RuntimeError("boom")
    [found] = tracking.search_runs(store, "exp")
    assert found["run_id"] == run.info.run_id
    assert found["status"] == "FAILED"
    assert found["metrics"] == {"x": 1.0}
    assert found["tags"]["mlflow.source.git.commit"]


def test_finished_run_logs_flattened_params(store):
    with tracking.tracked_run(store, "exp"):
        tracking.log_params({"model": {"c_grid": [1, 2], "seed": 3}, "kind": "baseline"})
    [found] = tracking.search_runs(store, "exp")
    assert found["status"] == "FINISHED"
    assert found["params"] == {"model.c_grid": "[1, 2]", "model.seed": "3", "kind": "baseline"}


def test_unreachable_server_is_a_clear_error():
    uri = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(tracking.TrackingError, match=f"MLflow tracking server {uri} is not reachable"):
        tracking.check_reachable(uri, timeout=2)


def test_uri_precedence_flag_then_env_then_config(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    cfg = tracking.TrackingConfig(tracking_uri="sqlite:///cfg.db")
    assert tracking.resolve_tracking_uri("sqlite:///flag.db", cfg) == "sqlite:///flag.db"
    assert tracking.resolve_tracking_uri(None, cfg) == "sqlite:///env.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.resolve_tracking_uri(None, cfg) == "sqlite:///cfg.db"
    assert tracking.resolve_tracking_uri(None, None).endswith("data/mlflow/mlflow.db")


@pytest.mark.parametrize("uri", ["models:/nope@champion", "models:/nope/3", "models:/bad/uri/form"])
def test_unknown_registry_uri_names_it(store, uri):
    with pytest.raises(ValueError, match=f"model URI '{uri}' does not resolve"):
        load_model(uri, store)


def test_path_that_is_not_a_model_names_it(tmp_path, store):
    with pytest.raises(ValueError, match="has neither meta.json nor MLmodel"):
        load_model(str(tmp_path), store)
    with pytest.raises(ValueError, match="no such directory"):
        load_model(str(tmp_path / "missing"), store)


def test_promote_unknown_version_is_a_tracking_error(store):
    with pytest.raises(tracking.TrackingError, match="cannot promote stance-baseline version 7"):
        registry.promote(store, "stance-baseline", "7", "champion")
