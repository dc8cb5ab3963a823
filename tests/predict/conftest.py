"""Shared fixtures for the predictor tests: a real baseline model trained on tiny inline data."""
from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

from tests.predict.helpers import TAGS, labeled_rows
from training.baseline import BaselineConfig, train_baseline


@pytest.fixture(scope="session")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real baseline model directory trained on the tiny rows (small n-gram ranges: fast)."""
    rows = labeled_rows()
    train = Dataset.from_list([r for r in rows if not r["id"].endswith("-2")])
    validation = Dataset.from_list([r for r in rows if r["id"].endswith("-2")])
    cfg = BaselineConfig(c_grid=[4.0], cv_folds=2, char_ngrams=(3, 4))
    out = tmp_path_factory.mktemp("baseline") / "model"
    return train_baseline(train, validation, TAGS, cfg, out).model_dir
