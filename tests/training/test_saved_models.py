"""Models saved before the layout change still load: saved models name `training.pyfunc_model`
(the MLflow wrapper, pickled by reference) and `training.char_hashing` (inside the baseline's
pipeline.joblib) by module path, so both modules stay where they were.

tests/fixtures/saved-before-layout/ is an MLflow model of a tiny baseline, saved with the
code of commit 00f3cec (before the move); expected.json holds the probabilities it gave then.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.registry import load_model
from training.scoring import load_scorer

SAVED = Path(__file__).resolve().parent.parent / "fixtures" / "saved-before-layout"


def test_mlflow_model_saved_before_the_move_loads_and_scores_the_same():
    expected = json.loads((SAVED / "expected.json").read_text(encoding="utf-8"))
    loaded = load_model(str(SAVED))
    assert loaded.scorer.kind == "baseline"
    assert np.allclose(loaded.scorer.predict_proba(expected["texts"]), expected["probs"], atol=1e-7)


def test_model_directory_saved_before_the_move_loads():
    expected = json.loads((SAVED / "expected.json").read_text(encoding="utf-8"))
    scorer = load_scorer(SAVED / "artifacts" / "build")
    assert np.allclose(scorer.predict_proba(expected["texts"]), expected["probs"], atol=1e-7)
