"""Models in MLflow, in one place: log and register, promote, list, export, load, serve to Spark.

Accepted model URIs: `models:/NAME@alias`, `models:/NAME/VERSION`, `runs:/RUN_ID/model`, a
local MLflow model directory (has `MLmodel`, e.g. from `stance models export`), or a raw
model directory (has `meta.json`). Registry URIs are looked up in the store the caller
passes (the CLI resolves it with training.tracking.resolve_tracking_uri and TrackingConfig).
Runs, params and metrics are training.tracking's; the pyfunc wrapper is training.pyfunc_model.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import mlflow
import mlflow.pyfunc
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from labeling.io import replace_dir
from training.model_dir import META_FILE, Scorer, output_frame
from training.pyfunc_model import ARTIFACT_KEY, StancePyfunc
from training.scoring import load_scorer
from training.tracking import TrackingError, check_reachable, resolve_tracking_uri, use_store

MODEL_ARTIFACT = "model"
_REQUIREMENTS = {
    "baseline": ["mlflow", "scikit-learn", "scipy", "numpy", "pandas", "joblib"],
    "transformer": ["mlflow", "numpy", "pandas", "onnxruntime", "transformers", "tokenizers", "torch"],
}

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


_downloads: Path | None = None  # this process's folder of downloaded registry models


def _remove_downloads(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child that exits normally must not take its parent's models
        shutil.rmtree(folder, ignore_errors=True)


def download_folder() -> Path:
    """A new folder for one registry model's files, inside a folder this process removes at exit.

    Left to itself, mlflow.pyfunc.load_model downloads a models:/ or runs:/ model into a new
    temporary folder that nobody removes: every `stance predict` of a registry model left a copy
    of the model behind. The files must outlive the load (a forked scoring worker reopens the
    ONNX graph from them; distillation reads the teacher's folder), so they go at exit.
    """
    global _downloads
    if _downloads is None:
        _downloads = Path(tempfile.mkdtemp(prefix="stance-models-"))
        atexit.register(_remove_downloads, _downloads, os.getpid())
    return Path(tempfile.mkdtemp(dir=_downloads))


def _unwrap(model_uri: str) -> Scorer:
    remote = model_uri.startswith(("models:/", "runs:/"))
    pyfunc = mlflow.pyfunc.load_model(model_uri, dst_path=str(download_folder()) if remote else None)
    return pyfunc.unwrap_python_model().scorer


def _load_local(uri: str, path: Path) -> LoadedModel:
    if (path / META_FILE).is_file():
        return LoadedModel(scorer=load_scorer(path), uri=uri, name=path.name)
    if (path / "MLmodel").is_file():
        mlmodel = yaml.safe_load((path / "MLmodel").read_text(encoding="utf-8")) or {}
        return LoadedModel(scorer=_unwrap(str(path)), uri=uri, name=path.name, run_id=mlmodel.get("run_id"))
    raise ValueError(f"model URI {uri!r} does not resolve: {path} has neither {META_FILE} nor MLmodel")


def require_store(uri: str, store: str) -> None:
    """Refuse the registry/run URI `uri` when `store` holds nothing to resolve it in: a SQLite
    file that does not exist (MLflow would create an empty one, e.g. inside an installed
    package's folder) or a server that does not answer. One line naming both, as ValueError."""
    hint = "set --tracking-uri or MLFLOW_TRACKING_URI to the store that holds it"
    if store.startswith("sqlite:///") and not Path(store[len("sqlite:///"):]).is_file():
        raise ValueError(f"model URI {uri!r} does not resolve: no tracking store at {store} (no such database file); {hint}")
    try:
        check_reachable(store)
    except TrackingError as exc:
        raise ValueError(f"model URI {uri!r} does not resolve: {exc}; {hint}") from None


def load_model(uri: str, tracking_uri: str | None = None) -> LoadedModel:
    """Load the model at `uri` (see module docstring) and return its scorer with provenance.

    tracking_uri: the store for models:/ and runs:/ (default: resolve_tracking_uri()).
    Raises ValueError naming `uri` when it does not resolve (unknown name, alias, version,
    run, a store that does not exist or answer (require_store), or a path that is not a model).
    """
    store = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("models:/", "runs:/")):
        require_store(uri, store)
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


def log_model(model_dir: Path, registered_name: str | None, example_texts: Sequence[str]) -> dict[str, Any]:
    """Log `model_dir` as a StancePyfunc with signature and input example; register it.

    Returns {"model_uri", "name", "version"} (name/version None when not registered).
    """
    scorer = load_scorer(model_dir)
    example = pd.DataFrame({"text": list(example_texts)[:3] or ["Example sentence."]})
    output = output_frame(scorer.tags, scorer.thresholds, scorer.predict_proba(example["text"].tolist()))
    reqs = []
    for pkg in _REQUIREMENTS.get(scorer.kind, []):
        with contextlib.suppress(metadata.PackageNotFoundError):  # optional extras, pinned when present
            reqs.append(f"{pkg}=={metadata.version(pkg)}")
    info = mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT, python_model=StancePyfunc(), artifacts={ARTIFACT_KEY: str(model_dir)},
        signature=infer_signature(example, output), input_example=example,
        registered_model_name=registered_name, pip_requirements=reqs,
    )
    version = getattr(info, "registered_model_version", None)
    return {"model_uri": info.model_uri, "name": registered_name, "version": str(version) if version else None}


def promote(uri: str, name: str, version: str, alias: str) -> None:
    """Point `alias` of registered model `name` at `version`. Raises TrackingError when absent."""
    client = use_store(uri)
    try:
        client.get_model_version(name, str(version))
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise TrackingError(f"cannot promote {name} version {version} in {uri}: {exc.message}") from None


def list_models(uri: str) -> list[dict[str, Any]]:
    """Every registered model version: name, version, aliases, run_id, created (ms since epoch)."""
    client = use_store(uri)
    rows = []
    for model in client.search_registered_models():
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for mv in client.search_model_versions(f"name='{model.name}'"):
            rows.append({"name": mv.name, "version": str(mv.version), "aliases": sorted(aliases.get(str(mv.version), [])),
                         "run_id": mv.run_id, "created": mv.creation_timestamp})
    return sorted(rows, key=lambda r: (r["name"], int(r["version"])))


def download_model(model_uri: str, out_dir: Path, uri: str) -> Path:
    """Copy the MLflow model at `model_uri` to `out_dir` (replaced only when complete)."""
    use_store(uri)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        except MlflowException as exc:
            raise TrackingError(f"model URI {model_uri!r} does not resolve in {uri}: {exc.message}") from None
        replace_dir(local, out_dir)
    return out_dir


def pyfunc_uri(uri: str, workdir: Path, tracking_uri: str | None = None) -> str:
    """An MLflow model URI that Spark's UDF can load, for any URI `stance predict` accepts.

    models:/ and runs:/ resolve in `tracking_uri` (default resolve_tracking_uri()); an MLflow
    model folder (MLmodel) is used as it is; a raw model directory (meta.json) is wrapped
    as a StancePyfunc saved under `workdir`. Raises ValueError for anything else.
    """
    if uri.startswith(("models:/", "runs:/")):
        use_store(resolve_tracking_uri(tracking_uri))
        bare_run = re.match(r"^runs:/([^/]+)/?$", uri)
        return f"runs:/{bare_run[1]}/model" if bare_run else uri
    path = Path(uri).expanduser().resolve()
    if (path / "MLmodel").is_file():
        return str(path)
    if (path / META_FILE).is_file():
        target = Path(workdir) / "model"
        # pip_requirements given: MLflow would otherwise infer them in a slow subprocess
        mlflow.pyfunc.save_model(path=str(target), python_model=StancePyfunc(), artifacts={ARTIFACT_KEY: str(path)},
                                 pip_requirements=[])
        return str(target)
    raise ValueError(f"model URI {uri!r} does not resolve: not a registry URI, an MLflow model or a model directory")


def spark_udf(spark: Any, model_uri: str, result_type: Any, scratch: Path) -> Any:
    """The Spark UDF scoring a struct of `text` with the MLflow model at `model_uri` (pyfunc_uri).

    For a cluster, MLflow zips the model for the executors into a temporary file it never
    removes (a copy of the model per job on the driver). Here it is made in `scratch`, a folder
    the caller removes once the job that uses the UDF is done.
    """
    from mlflow.utils.file_utils import get_or_create_tmp_dir

    get_or_create_tmp_dir()  # MLflow's per-process folder (removed at exit), made before tempdir moves
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        return mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager="local")
    finally:
        tempfile.tempdir = saved
