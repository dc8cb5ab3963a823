"""`load_scorer`: a model directory (training.model_dir) as a Scorer, whatever its kind.

The MLflow pyfunc wrapper (training.pyfunc_model), the registry and the predictor all
load models through here. Each kind's scorer is imported only when a model of that kind
is loaded, so scoring a baseline never imports the transformer stack and vice versa.
"""
from __future__ import annotations

from pathlib import Path

from training.model_dir import Scorer, read_meta


def load_scorer(model_dir: Path | str, **kwargs) -> Scorer:
    """Load the scorer stored in `model_dir`, dispatching on meta.json's `kind`.

    Raises FileNotFoundError (no meta.json) or ValueError (unknown kind, bad meta.json).
    """
    meta = read_meta(model_dir)
    if meta["kind"] == "baseline":
        from training.baseline_scorer import BaselineScorer

        return BaselineScorer.load(model_dir, **kwargs)
    if meta["kind"] == "transformer":
        from training.transformer_scorer import TransformerScorer

        return TransformerScorer.load(model_dir, **kwargs)
    raise ValueError(f"{model_dir}: unknown model kind {meta['kind']!r}")
