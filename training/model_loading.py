"""Load a stance model from anywhere it can live, as a Scorer.

Accepted URIs: `models:/NAME@alias`, `models:/NAME/VERSION`, `runs:/RUN_ID/model`, a local
MLflow model directory (has `MLmodel`, e.g. from `stance models export`), or a raw model
directory (has `meta.json`). The registry is looked up in the store given by
training.tracking.resolve_tracking_uri (MLFLOW_TRACKING_URI or the project's SQLite store).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import yaml
from mlflow.exceptions import MlflowException

from training.model_dir import META_FILE, Scorer
from training.scoring import load_scorer
from training.tracking import resolve_tracking_uri, use_store

_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_RUN = re.compile(r"^runs:/(?P<run_id>[^/]+)(/.*)?$")


@dataclass
class LoadedModel:
    """A scorer plus where it came from (name/version/run_id are None when unknown)."""

    scorer: Scorer
    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None


def _unwrap(model_uri: str) -> Scorer:
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    return pyfunc.unwrap_python_model().scorer


def _load_local(uri: str, path: Path) -> LoadedModel:
    if (path / META_FILE).is_file():
        return LoadedModel(scorer=load_scorer(path), uri=uri, name=path.name)
    if (path / "MLmodel").is_file():
        mlmodel = yaml.safe_load((path / "MLmodel").read_text(encoding="utf-8")) or {}
        return LoadedModel(scorer=_unwrap(str(path)), uri=uri, name=path.name, run_id=mlmodel.get("run_id"))
    raise ValueError(f"model URI {uri!r} does not resolve: {path} has neither {META_FILE} nor MLmodel")


def load_model(uri: str, tracking_uri: str | None = None) -> LoadedModel:
    """Load the model at `uri` (see module docstring) and return its scorer with provenance.

    tracking_uri: the store for models:/ and runs:/ (default: resolve_tracking_uri()).
    Raises ValueError naming `uri` when it does not resolve (unknown name, alias, version,
    run, or a path that is not a model).
    """
    store = resolve_tracking_uri(tracking_uri)
    try:
        if m := _ALIAS.match(uri):
            client = use_store(store)
            mv = client.get_model_version_by_alias(m["name"], m["alias"])
            return LoadedModel(_unwrap(uri), uri, mv.name, str(mv.version), mv.run_id)
        if m := _VERSION.match(uri):
            client = use_store(store)
            mv = client.get_model_version(m["name"], m["version"])
            return LoadedModel(_unwrap(uri), uri, mv.name, str(mv.version), mv.run_id)
        if m := _RUN.match(uri):
            use_store(store)
            return LoadedModel(_unwrap(uri if m.group(2) else f"{uri.rstrip('/')}/model"), uri, run_id=m["run_id"])
    except MlflowException as exc:
        raise ValueError(f"model URI {uri!r} does not resolve in {store}: {exc.message}") from None
    if uri.startswith(("models:/", "runs:/")):
        raise ValueError(f"model URI {uri!r} does not resolve: expected models:/NAME@alias, "
                         f"models:/NAME/VERSION or runs:/RUN_ID/model")
    path = Path(uri).expanduser()
    if not path.is_dir():
        raise ValueError(f"model URI {uri!r} does not resolve: not a registry URI and no such directory")
    return _load_local(uri, path)
