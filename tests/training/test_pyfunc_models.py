"""Both model kinds through the MLflow pyfunc: the same input and output columns."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from datasets import Dataset

from tests.helpers import make_rows, train_tiny_baseline
from training import registry, tracking
from training.dataset import DatasetConfig, split_rows
from training.registry import load_model


@pytest.mark.slow
def test_baseline_and_transformer_share_the_pyfunc_interface(tmp_path, tags):
    import mlflow.pyfunc

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from training.finetune import FinetuneConfig, train_transformer

    splits = split_rows(make_rows(60), tags, DatasetConfig())
    train, val = Dataset.from_list(splits["train"]), Dataset.from_list(splits["validation"])
    dirs = {
        "baseline": train_tiny_baseline(splits["train"], splits["validation"], tmp_path / "b", tags,
                                        c_grid=[1.0], char_ngrams=(3, 5)),
        "transformer": train_transformer(train, val, tags, FinetuneConfig(epochs=1, max_length=24, progress=False),
                                         tmp_path / "t").model_dir,
    }
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    frame = pd.DataFrame({"text": ["Iran accused Turkey.", "China agreed to resume talks with India."]})
    outputs = {}
    for kind, model_dir in dirs.items():
        with tracking.tracked_run(store, "pyfunc"):
            info = registry.log_model(model_dir, f"stance-{kind}", frame["text"].tolist())
        model = mlflow.pyfunc.load_model(f"models:/stance-{kind}/{info['version']}")
        assert model.metadata.get_input_schema().input_names() == ["text"]
        outputs[kind] = model.predict(frame)
        assert load_model(f"models:/stance-{kind}/1", store).scorer.kind == kind
    columns = tags + ["labels"]
    assert list(outputs["baseline"].columns) == columns == list(outputs["transformer"].columns)
    for out in outputs.values():
        assert len(out) == 2 and out[tags].apply(lambda c: c.between(0, 1).all()).all()
        assert all(set(labels) <= set(tags) for labels in out["labels"])


def test_pyfunc_without_text_column_is_refused(tmp_path, tags):
    from training.pyfunc_model import StancePyfunc

    model = StancePyfunc()
    model.scorer = None
    with pytest.raises(ValueError, match="input needs a 'text' column"):
        model.predict(None, pd.DataFrame({"sentence": ["x"]}))
