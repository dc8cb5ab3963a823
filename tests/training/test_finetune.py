"""Fine-tuning the real bundled MiniLM backbone for a few steps on tiny inline data."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset

from tests.helpers import TAGS
from labeling.config import CONFIG_DIR, ConfigError, load_config
from training.backbones import BackboneError, bundled_minilm_dir, resolve_backbone
from training.finetune import FinetuneConfig, label_matrix, macro_f1, train_transformer
from training.finetune_trainer import EpochTracker
from training.scoring import load_scorer
from training.transformer_scorer import TransformerScorer

SENTENCES = [
    ("Moscow threatened to deploy more troops to the border.", ["escalation"]),
    ("The navy fired missiles at a radar station overnight.", ["escalation"]),
    ("The ministers agreed to resume talks next month.", ["de-escalation"]),
    ("Both sides signed a ceasefire on Monday.", ["de-escalation"]),
    ("The foreign minister accused Beijing of bad faith.", ["accusation"]),
    ("Officials blamed the militia for the attack on the convoy.", ["accusation"]),
    ("The Kremlin denied the report as baseless.", ["denial"]),
    ("A spokesman rejected the allegations outright.", ["denial"]),
    ("The meeting took place in Stockholm.", []),
    ("He accused Seoul of preparing a strike.", ["accusation", "escalation"]),
]


def _rows(prefix: str, variant: str) -> list[dict]:
    return [
        {"id": f"{prefix}{i}", "text": f"{text[:-1]} {variant}.", "labels": labels, "group_id": f"g-{prefix}{i}", "article_id": f"a-{prefix}{i}"}
        for i, (text, labels) in enumerate(SENTENCES)
    ]


@pytest.fixture(scope="module")
def splits() -> tuple[Dataset, Dataset]:
    train = Dataset.from_list(_rows("t", "on Tuesday") + _rows("u", "this week"))
    return train, Dataset.from_list(_rows("v", "again"))


def _cfg(**overrides) -> FinetuneConfig:
    base = dict(max_length=32, epochs=2, batch_size=8, learning_rate=1e-4, progress=False, export_onnx=False, seed=7, num_threads=1)
    return FinetuneConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def trained(splits, tmp_path_factory) -> tuple[Path, list[dict], object]:
    epochs: list[dict] = []
    out = tmp_path_factory.mktemp("ft") / "model"
    result = train_transformer(*splits, TAGS, _cfg(export_onnx=True), out, on_epoch=epochs.append)
    return out, epochs, result


def test_default_backbone_resolves_to_bundled_package():
    path = resolve_backbone("all-MiniLM-L6-v2")
    assert path == bundled_minilm_dir()
    assert (path / "config.json").exists() and (path / "model.safetensors").exists()


def test_missing_backbone_path_fails_at_config_time(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist"):
        FinetuneConfig(backbone=str(tmp_path / "no-such-model"))


def test_backbone_directory_without_config_is_rejected(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(BackboneError, match=r"not a model directory \(no config.json\)"):
        resolve_backbone(str(tmp_path))


def test_uncached_hub_name_fails_without_downloading(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneError, match=r"not in the local Hugging Face cache"):
        resolve_backbone("stance-lab-test/no-such-model")


def test_project_config_file_loads_and_unknown_key_is_named(tmp_path):
    cfg = load_config(FinetuneConfig, CONFIG_DIR / "finetune.yaml")
    assert 8 <= cfg.max_length <= 128 and cfg.patience >= 1
    bad = tmp_path / "finetune.yaml"
    bad.write_text("epochs: 3\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"learning_rat: unknown key"):
        load_config(FinetuneConfig, bad)


def test_label_matrix_and_macro_f1_match_hand_computed_values():
    y = label_matrix([["denial"], [], ["escalation", "denial"]], TAGS)
    assert y.tolist() == [[0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 0, 1]]
    decided = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)
    # escalation: tp 1 fp 1 -> 2/3; denial: tp 1 fn 1 -> 2/3; de-escalation and accusation: nothing to
    # score (no gold tag, none predicted) -> left out of the mean (training.metrics.macro_from_counts)
    assert macro_f1(y, decided) == pytest.approx((2 / 3 + 2 / 3) / 2)
    decided[1, 2] = True  # a false accusation is scored: F1 0 joins the mean
    assert macro_f1(y, decided) == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)


def test_unknown_tag_fails_naming_the_row(splits, tmp_path):
    bad = Dataset.from_list(_rows("x", "today")[:3] + [{"id": "x-bad", "text": "Talks failed.", "labels": ["threat"], "group_id": "g", "article_id": "a"}])
    with pytest.raises(ValueError, match=r"row 'x-bad': unknown tag 'threat'"):
        train_transformer(bad, splits[1], TAGS, _cfg(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_refuses_to_overwrite_a_directory_that_is_not_a_model(splits, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a model directory"):
        train_transformer(*splits, TAGS, _cfg(), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_tracker_stops_after_patience_and_restores_best_epoch():
    model = torch.nn.Linear(2, 1)
    tracker = EpochTracker(patience=2, on_epoch=None)
    state = SimpleNamespace(log_history=[], is_world_process_zero=True)
    stops = []
    for epoch, f1 in enumerate([0.4, 0.6, 0.55, 0.6], start=1):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        state.log_history.append({"loss": 1.0 / epoch})
        tracker.last_eval = (np.zeros((1, 1)), np.full((1, 1), float(epoch)))  # what compute_metrics keeps
        stops.append(tracker.record(state, {"eval_loss": 0.5, "eval_macro_f1": f1}, model))
    # Epoch 4 ties the best (0.6) without beating it: two epochs without gain -> stop.
    assert stops == [False, False, False, True]
    assert tracker.best_epoch == 2 and [h["train_loss"] for h in tracker.history] == [1.0, 0.5, 1 / 3, 0.25]
    tracker.restore_best(model)
    assert model.weight.detach().tolist() == [[2.0, 2.0]]
    assert tracker.best_eval[1].tolist() == [[2.0]]  # thresholds are tuned on the best epoch's output


@pytest.mark.slow
def test_finetune_writes_a_complete_model_directory(trained):
    out, epochs, result = trained
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "transformer" and meta["tags"] == TAGS
    assert set(meta["thresholds"]) == set(TAGS) and all(0 < v < 1 for v in meta["thresholds"].values())
    assert meta["backbone"] == "all-MiniLM-L6-v2" and meta["max_length"] == 32 and meta["preprocess_version"]
    assert (out / "hf" / "config.json").exists() and (out / "hf" / "tokenizer.json").exists()
    assert meta["onnx"]["file"] == "model.onnx" and meta["onnx"]["quantization"] == "none"
    assert (out / meta["onnx"]["file"]).stat().st_size > 1_000_000
    assert not any(p.name.startswith(".") for p in out.parent.iterdir()), "build directory left behind"
    assert [e["epoch"] for e in epochs] == [1, 2] == [h["epoch"] for h in result.history]
    assert set(epochs[0]) == {"epoch", "train_loss", "val_loss", "val_macro_f1", "seconds"}
    assert result.sentences_per_second > 0 and result.train_seconds > 0
    assert result.params["best_epoch"] in (1, 2) and result.params["onnx_max_abs_diff"] < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_reloaded_model_scores_in_input_order(trained, backend):
    out, _, _ = trained
    texts = ["Troops massed at the border.", "They agreed to a ceasefire and talks with their neighbours next week.", "Hi."] * 3
    scorer = TransformerScorer.load(out, backend=backend, batch_size=2)
    probs = scorer.predict_proba(texts)
    assert probs.shape == (9, 4) and np.all((probs >= 0) & (probs <= 1))
    # Sorting by length inside must not leak into the output order.
    np.testing.assert_allclose(scorer.predict_proba(texts[::-1]), probs[::-1], atol=0.02)
    assert scorer.predict_proba([]).shape == (0, 4)


@pytest.mark.slow
def test_load_scorer_dispatches_to_transformer_with_meta_thresholds(trained):
    out, _, result = trained
    scorer = load_scorer(out)
    assert scorer.kind == "transformer" and scorer.tags == TAGS
    assert scorer.thresholds.tolist() == [result.params["thresholds"][t] for t in TAGS]


@pytest.mark.slow
def test_thresholds_are_tuned_on_the_restored_models_validation_output(splits, trained):
    from training.thresholds import tune_thresholds

    model_dir, _, result = trained
    validation = splits[1]
    probs = load_scorer(model_dir).predict_proba(validation["text"])  # the saved model, scored afresh
    expected = tune_thresholds(label_matrix(validation["labels"], TAGS), probs)
    assert [result.params["thresholds"][t] for t in TAGS] == pytest.approx(expected.tolist())


@pytest.mark.slow
def test_training_stops_early_when_validation_f1_stalls(splits, tmp_path):
    # A learning rate this small cannot move the tuned-threshold F1 after epoch 1.
    result = train_transformer(*splits, TAGS, _cfg(epochs=6, patience=1, learning_rate=1e-12), tmp_path / "m")
    assert len(result.history) == 2 and result.params["best_epoch"] == 1


@pytest.mark.slow
def test_same_seed_gives_the_same_training_run(splits, tmp_path):
    runs = [train_transformer(*splits, TAGS, _cfg(epochs=1), tmp_path / f"m{i}").history[0] for i in range(2)]
    assert runs[0]["train_loss"] == pytest.approx(runs[1]["train_loss"], abs=1e-6)
    assert runs[0]["val_loss"] == pytest.approx(runs[1]["val_loss"], abs=1e-6)


def test_cuda_request_without_gpu_is_a_clear_error(splits, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the cuda path is exercised for real")
    with pytest.raises(RuntimeError, match="device 'cuda' requested but torch sees no CUDA device"):
        train_transformer(*splits, TAGS, _cfg(device="cuda"), tmp_path / "m")



def test_num_layers_keeps_the_first_layers_end_to_end(splits, tmp_path):
    result = train_transformer(*splits, TAGS, _cfg(epochs=1, num_layers=2, export_onnx=True), tmp_path / "m")
    config = json.loads((result.model_dir / "hf" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    scorer = load_scorer(result.model_dir)  # the 2-layer ONNX graph scores like any other model
    assert scorer.predict_proba(["Troops massed at the border."]).shape == (1, len(TAGS))


def test_num_layers_beyond_the_backbone_is_a_clear_error(splits, tmp_path):
    with pytest.raises(ValueError, match="num_layers: 7 asked, but backbone .* has 6"):
        train_transformer(*splits, TAGS, _cfg(num_layers=7), tmp_path / "m")


def test_freeze_layers_trains_only_the_layers_above(splits, tmp_path):
    from transformers import AutoModel

    result = train_transformer(*splits, TAGS, _cfg(epochs=1, freeze_layers=2, learning_rate=1e-3), tmp_path / "m")
    before = AutoModel.from_pretrained(bundled_minilm_dir()).state_dict()
    after = AutoModel.from_pretrained(result.model_dir / "hf").state_dict()
    changed = {name for name, weight in before.items() if not torch.equal(weight, after[name])}
    assert changed, "nothing was trained"
    assert all(name.startswith(("encoder.layer.2.", "encoder.layer.3.", "encoder.layer.4.", "encoder.layer.5.", "pooler."))
               for name in changed), sorted(changed)[:5]
    assert any(name.startswith("encoder.layer.2.") for name in changed)  # the first layer above the frozen ones learns


def test_freeze_layers_beyond_the_model_is_a_clear_error(splits, tmp_path):
    with pytest.raises(ValueError, match="freeze_layers: 7 asked, but the model has 6 layers"):
        train_transformer(*splits, TAGS, _cfg(freeze_layers=7), tmp_path / "m")


def test_teacher_probabilities_are_blended_into_the_training_targets(splits, trained):
    from transformers import AutoTokenizer

    import training.finetune as finetune

    tokenizer = AutoTokenizer.from_pretrained(trained[0] / "hf")
    train = splits[0]
    soft = np.full((len(train), len(TAGS)), 0.2, dtype=np.float32)
    hard = label_matrix(train["labels"], TAGS)
    targets = np.asarray(finetune._tokenize(train, TAGS, tokenizer, 32, soft, 0.25)["labels"])
    assert np.allclose(targets, 0.25 * 0.2 + 0.75 * hard)
    assert np.allclose(finetune._tokenize(train, TAGS, tokenizer, 32)["labels"], hard)  # no teacher: gold only


def test_label_smoothing_moves_training_targets_and_keeps_validation_hard(splits, tmp_path, monkeypatch):
    import training.finetune as finetune

    seen = {}
    real_build = finetune.build_trainer

    def recording_build(model, tokenizer, train_ds, val_ds, *args, **kwargs):
        seen["train"], seen["val"] = np.asarray(train_ds["labels"]), np.asarray(val_ds["labels"])
        return real_build(model, tokenizer, train_ds, val_ds, *args, **kwargs)

    monkeypatch.setattr(finetune, "build_trainer", recording_build)
    result = train_transformer(*splits, TAGS, _cfg(epochs=1, label_smoothing=0.1), tmp_path / "m")
    hard = label_matrix(splits[0]["labels"], TAGS)
    assert np.allclose(seen["train"], hard * 0.9 + 0.05)  # 1 -> 0.95, 0 -> 0.05
    assert set(np.unique(seen["val"])) <= {0.0, 1.0}  # F1 and thresholds are tuned on gold 0/1
    assert result.params["label_smoothing"] == 0.1


def test_label_smoothing_of_half_or_more_is_rejected():
    with pytest.raises(ValueError, match="label_smoothing"):
        _cfg(label_smoothing=0.5)


def test_evaluation_rows_are_sorted_by_length_with_their_labels(splits, trained):
    from transformers import AutoTokenizer

    import training.finetune as finetune

    tokenizer = AutoTokenizer.from_pretrained(trained[0] / "hf")
    val = splits[1]
    plain = finetune._tokenize(val, TAGS, tokenizer, 32)
    ordered = finetune._tokenize(val, TAGS, tokenizer, 32, by_length=True)
    lengths = [len(x) for x in ordered["input_ids"]]
    assert lengths == sorted(lengths) and lengths != [len(x) for x in plain["input_ids"]]

    def pairs(ds):
        return sorted((tuple(i), tuple(y)) for i, y in zip(ds["input_ids"], ds["labels"]))

    assert pairs(ordered) == pairs(plain)  # the same (ids, labels) rows, only reordered


def test_distilled_student_starts_from_the_teachers_first_layers(splits, trained, tmp_path, monkeypatch):
    import training.finetune as finetune

    teacher_dir = trained[0]
    seen = {}
    blend = finetune._tokenize

    def spy(split, tags, tokenizer, max_length, soft=None, weight=0.0, **options):
        if soft is not None:
            seen["soft"], seen["weight"] = soft, weight
        return blend(split, tags, tokenizer, max_length, soft, weight, **options)

    monkeypatch.setattr(finetune, "_tokenize", spy)
    # zero epochs of learning (learning rate ~0): the student's weights are the teacher's
    cfg = _cfg(epochs=1, num_layers=2, teacher=str(teacher_dir), distill_weight=0.7, learning_rate=1e-12,
               warmup_ratio=0.0, export_onnx=True)
    result = train_transformer(*splits, TAGS, cfg, tmp_path / "student")
    expected = load_scorer(teacher_dir).predict_proba(splits[0]["text"])
    assert np.allclose(seen["soft"], expected, atol=1e-5) and seen["weight"] == 0.7
    from transformers import AutoModelForSequenceClassification

    t = AutoModelForSequenceClassification.from_pretrained(teacher_dir / "hf").state_dict()
    s = AutoModelForSequenceClassification.from_pretrained(result.model_dir / "hf").state_dict()
    assert json.loads((result.model_dir / "hf" / "config.json").read_text())["num_hidden_layers"] == 2
    for key in ("bert.encoder.layer.1.output.dense.weight", "classifier.weight", "bert.pooler.dense.weight"):
        assert torch.allclose(s[key], t[key], atol=1e-6), key
    assert not any(k.startswith("bert.encoder.layer.2.") for k in s)


def test_a_teacher_with_other_tags_is_refused_before_training(splits, trained, tmp_path):
    with pytest.raises(ValueError, match="teacher .*: tags .* differ from the schema's"):
        train_transformer(*splits, ["escalation", "denial"], _cfg(teacher=str(trained[0])), tmp_path / "m")


def test_positive_weights_are_the_tempered_class_ratio():
    from training.finetune_trainer import positive_weights

    y = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]])
    assert positive_weights(y).tolist() == pytest.approx([3 ** 0.5, 1.0, (1 / 3) ** 0.5])


def test_class_weighted_loss_changes_the_training_loss(splits, tmp_path):
    plain = train_transformer(*splits, TAGS, _cfg(epochs=1), tmp_path / "plain").history[0]
    weighted = train_transformer(*splits, TAGS, _cfg(epochs=1, class_weight="sqrt_balanced"), tmp_path / "w").history[0]
    # every tag is rarer than its absence here, so weighting the positives up raises the loss
    assert weighted["train_loss"] > plain["train_loss"] * 1.05


def test_spread_layers_run_from_the_first_to_the_last():
    from training.finetune import spread_layers

    assert spread_layers(6, 3) == [0, 2, 5]
    assert spread_layers(6, 2) == [0, 5] and spread_layers(6, 6) == list(range(6)) and spread_layers(12, 4) == [0, 4, 7, 11]


def test_a_spread_student_keeps_the_teachers_first_and_last_layers(splits, trained, tmp_path):
    from transformers import AutoModelForSequenceClassification

    teacher_dir = trained[0]
    # learning rate ~0: the student's weights are the teacher's layers 0 and 5 (of 6), renumbered 0 and 1
    cfg = _cfg(epochs=1, num_layers=2, layer_choice="spread", teacher=str(teacher_dir), learning_rate=1e-12,
               warmup_ratio=0.0, export_onnx=True)
    result = train_transformer(*splits, TAGS, cfg, tmp_path / "student")
    t = AutoModelForSequenceClassification.from_pretrained(teacher_dir / "hf").state_dict()
    s = AutoModelForSequenceClassification.from_pretrained(result.model_dir / "hf").state_dict()
    assert json.loads((result.model_dir / "hf" / "config.json").read_text())["num_hidden_layers"] == 2
    for kept, source in ((0, 0), (1, 5)):
        key = "bert.encoder.layer.{}.attention.self.query.weight"
        assert torch.allclose(s[key.format(kept)], t[key.format(source)], atol=1e-6), (kept, source)
    assert not torch.allclose(s[key.format(1)], t[key.format(1)], atol=1e-3)  # not the teacher's second layer
    assert load_scorer(result.model_dir).predict_proba(["Troops massed at the border."]).shape == (1, len(TAGS))


def test_layer_lr_decay_gives_each_trained_layer_its_own_rate(splits, tmp_path, monkeypatch):
    import training.finetune as finetune

    seen = {}
    real_build = finetune.build_trainer

    def recording_build(model, *args, **kwargs):
        trainer = real_build(model, *args, **kwargs)
        seen["model"], seen["trainer"] = model, trainer
        return trainer

    monkeypatch.setattr(finetune, "build_trainer", recording_build)
    result = train_transformer(*splits, TAGS, _cfg(epochs=1, layer_lr_decay=0.5, learning_rate=1e-4, freeze_layers=2),
                               tmp_path / "m")
    assert result.params["layer_lr_decay"] == 0.5
    rate = {id(p): g["initial_lr"] for g in seen["trainer"].optimizer.param_groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in seen["trainer"].optimizer.param_groups for p in g["params"]}
    params = dict(seen["model"].named_parameters())
    # MiniLM's 6 layers, the first 2 frozen (not in the optimizer): layer 5 is one below the head
    assert rate[id(params["classifier.weight"])] == pytest.approx(1e-4)
    assert rate[id(params["bert.encoder.layer.5.attention.self.query.weight"])] == pytest.approx(5e-5)
    assert rate[id(params["bert.encoder.layer.2.output.dense.weight"])] == pytest.approx(1e-4 * 0.5**4)
    assert id(params["bert.encoder.layer.1.output.dense.weight"]) not in rate
    assert id(params["bert.embeddings.word_embeddings.weight"]) not in rate
    assert decay[id(params["bert.encoder.layer.3.output.dense.weight"])] == 0.01
    assert decay[id(params["bert.encoder.layer.3.output.LayerNorm.weight"])] == 0.0
    assert decay[id(params["classifier.bias"])] == 0.0
    assert sum(len(g["params"]) for g in seen["trainer"].optimizer.param_groups) == sum(
        p.requires_grad for p in seen["model"].parameters())


def test_one_learning_rate_for_all_layers_by_default(splits, tmp_path, monkeypatch):
    import training.finetune as finetune

    seen = {}
    real_build = finetune.build_trainer
    monkeypatch.setattr(finetune, "build_trainer",
                        lambda *a, **k: seen.setdefault("trainer", real_build(*a, **k)))
    train_transformer(*splits, TAGS, _cfg(epochs=1, layer_lr_decay=1.0), tmp_path / "m")
    assert {g["initial_lr"] for g in seen["trainer"].optimizer.param_groups} == {_cfg().learning_rate}


def test_layer_lr_decay_above_one_is_rejected():
    with pytest.raises(ValueError, match="layer_lr_decay"):
        _cfg(layer_lr_decay=1.5)
