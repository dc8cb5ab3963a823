"""The model the Label Studio ML backend serves: loaded once, named, swapped whole.

`load_serving(uri, schema_tags)` resolves any model URI `stance predict` accepts
(training.registry.load_model), refuses a model whose tags are not the labeling config's,
and names it for Label Studio: `model_version` is what annotators see next to a
pre-annotation and what the project's "model version" setting matches on, so it must be
stable for one model and differ between two. `ModelHolder` is the one mutable slot a
running backend reads on every request and a background retrain replaces.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from labeling.config import PROJECT_ROOT
from labeling.studio.tasks import build_prediction
from training.model_dir import META_FILE, content_fingerprint
from training.registry import LoadedModel, list_models, load_model, require_store

CHAMPION_DIR = PROJECT_ROOT / "models" / "champion"  # where `make demo` exports the champion


@dataclass(frozen=True)
class ServingModel:
    """A loaded model with its Label Studio name.

    uri: as given (models:/stance/3, models:/stance@champion, a folder).
    model_version: "<registry name> v<version>" for a registry model, "<folder name>
    <fingerprint[:12]>" otherwise (the content hash: a folder retrained in place gets a new one).
    scorer: a training.model_dir.Scorer whose tags are `tags`.
    """

    uri: str
    model_version: str
    tags: tuple[str, ...]
    scorer: Any
    thresholds: dict[str, float]

    def predictions(self, texts: Sequence[str]) -> list[dict]:
        """One Label Studio prediction per text ({model_version, score, result}), scored in one batch.

        result uses the generated config's from_name/to_name (labeling.studio.tasks.build_prediction);
        an empty result means "no stance" at these thresholds.
        """
        if not texts:
            return []
        probs = self.scorer.predict_proba(list(texts))
        return [build_prediction(dict(zip(self.tags, map(float, row))), self.thresholds, self.model_version)
                for row in probs]


def model_version(loaded: LoadedModel) -> str:
    """The Label Studio name of a loaded model (see ServingModel.model_version)."""
    if loaded.name and loaded.version:
        return f"{loaded.name} v{loaded.version}"
    model_dir = getattr(loaded.scorer, "model_dir", None)
    name = loaded.name or (f"run {loaded.run_id[:8]}" if loaded.run_id else None)
    if model_dir is None:  # a scorer that does not say where it lives: its URI is all there is
        return name or loaded.uri
    fingerprint = content_fingerprint(model_dir).split(":", 1)[-1]
    return f"{name or Path(model_dir).name} {fingerprint[:12]}"


def load_serving(uri: str, schema_tags: Sequence[str], store: str | None = None) -> ServingModel:
    """Load the model at `uri` (registry URIs resolve in `store`, default the project's store).

    Raises ValueError when the URI does not resolve, or when the model's tags differ from
    `schema_tags` (the labeling config's), naming both lists: predictions for other tags
    would never show in Label Studio.
    """
    loaded = load_model(uri, store)
    scorer = loaded.scorer
    if list(scorer.tags) != list(schema_tags):
        raise ValueError(f"model {uri} has tags {list(scorer.tags)}, the labeling config (schema) has "
                         f"{list(schema_tags)}: retrain the model on this schema or serve another one")
    thresholds = {t: float(v) for t, v in zip(scorer.tags, scorer.thresholds)}
    return ServingModel(uri=uri, model_version=model_version(loaded), tags=tuple(scorer.tags), scorer=scorer,
                        thresholds=thresholds)


def champion_uri(store: str) -> str | None:
    """The model to serve when none is named: the exported champion folder (models/champion),
    else the newest registered version with the alias `champion` in `store`; None when there is
    neither (or no store at all)."""
    if (CHAMPION_DIR / META_FILE).is_file() or (CHAMPION_DIR / "MLmodel").is_file():
        return str(CHAMPION_DIR)
    try:
        require_store("models:/<champion>", store)
    except ValueError:  # no store yet (nothing trained): no champion either
        return None
    champions = [m for m in list_models(store) if "champion" in m["aliases"]]
    if not champions:
        return None
    newest = max(champions, key=lambda m: m["created"] or 0)
    return f"models:/{newest['name']}@champion"


class ModelHolder:
    """The serving model of one process; requests read it, a retrain swaps it (thread-safe).

    A request takes the model once with get() and uses that object throughout, so a swap
    in the middle of a batch never mixes two versions in one answer.
    """

    def __init__(self, model: ServingModel):
        self._lock = threading.Lock()
        self._model = model

    def get(self) -> ServingModel:
        """The model serving now."""
        with self._lock:
            return self._model

    def swap(self, new: ServingModel) -> None:
        """Serve `new` from the next request on; refuses (ValueError) a model with other tags."""
        with self._lock:
            if new.tags != self._model.tags:
                raise ValueError(f"cannot switch to {new.model_version}: tags {list(new.tags)}, serving "
                                 f"{list(self._model.tags)}")
            self._model = new
