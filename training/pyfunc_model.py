"""The MLflow model: a stance model directory wrapped as a pyfunc.

DataFrame with a `text` column in, training.model_dir.output_frame out (one probability
column per tag, plus `labels`). Tags, thresholds and preprocessing version travel
inside the artifact (meta.json), never in a separate config.
"""
from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from training.model_dir import output_frame
from training.scoring import load_scorer

ARTIFACT_KEY = "model_dir"


class StancePyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc over the artifact "model_dir"; `self.scorer` is the Scorer the predictor unwraps."""

    def load_context(self, context: Any) -> None:
        """Load the scorer from the model directory MLflow restored for this model."""
        self.scorer = load_scorer(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Score `model_input["text"]`; raises ValueError when there is no `text` column."""
        if isinstance(model_input, pd.Series):
            model_input = model_input.to_frame("text")
        if "text" not in model_input.columns:
            raise ValueError(f"input needs a 'text' column, got columns {list(model_input.columns)}")
        texts = model_input["text"].fillna("").astype(str).tolist()
        probs = self.scorer.predict_proba(texts)
        return output_frame(self.scorer.tags, self.scorer.thresholds, probs)
