"""ONNX int8 export: parity with the PyTorch model on held-out sentences."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from datasets import Dataset

from training.finetune import FinetuneConfig, train_transformer
from training.onnx_export import QUANT_OP_TYPES, export_int8
from training.thresholds import apply_thresholds
from training.transformer_scorer import ONNX_FILE, TransformerScorer

TAGS = ["escalation", "de-escalation", "accusation", "denial"]
# Predicates per tag set; sentences are built by pairing them with actors, so train and
# held-out sentences share wording but never an actor (a grouped split, like the real one).
PREDICATES = [
    ("{a} threatened to strike {b} if the drills continue", ["escalation"]),
    ("{a} deployed warships near the coast of {b}", ["escalation"]),
    ("{a} expelled four diplomats from {b} and imposed new sanctions", ["escalation"]),
    ("{a} shelled border villages in {b} overnight", ["escalation"]),
    ("{a} and {b} agreed to resume negotiations", ["de-escalation"]),
    ("{a} signed a ceasefire with {b} after mediated talks", ["de-escalation"]),
    ("{a} pledged to withdraw its troops from the border with {b}", ["de-escalation"]),
    ("{a} offered {b} talks on a new security agreement", ["de-escalation"]),
    ("{a} accused {b} of hypocrisy and double standards", ["accusation"]),
    ("{a} blamed {b} for violating the truce", ["accusation"]),
    ("{a} condemned the irresponsible conduct of {b}", ["accusation"]),
    ("{a} denied any involvement in the sabotage in {b}", ["denial"]),
    ("{a} rejected reports from {b} as baseless fabrication", ["denial"]),
    ("{a} dismissed claims by {b} that its troops had crossed the border", ["denial"]),
    ("{a} accused {b} of preparing an attack and moved troops to the border", ["accusation", "escalation"]),
    ("{a} denied the charges made by {b} and called for talks", ["denial", "de-escalation"]),
    ("The delegation of {a} arrived in {b} on Sunday evening", []),
    ("Reporters from {a} and {b} gathered outside the conference hall", []),
    ("The weather in {a} was mild as the envoy from {b} arrived", []),
    ("{a} and {b} held a joint press briefing at noon", []),
]
ACTORS = ["Russia", "China", "Japan", "Iran", "India", "Pakistan", "Serbia", "Kosovo", "Turkey", "Greece",
          "Egypt", "Ethiopia", "Brazil", "Chile"]
TRAIN_ACTORS, VAL_ACTORS, TEST_ACTORS = ACTORS[:7], ACTORS[7:9], ACTORS[9:]


def _sentences(actors: list[str]) -> list[tuple[str, list[str]]]:
    return [(p.format(a=a, b=actors[(i + 1) % len(actors)]), tags) for i, a in enumerate(actors) for p, tags in PREDICATES]


HELD_OUT = [
    "Navy ships were sent to patrol the contested waters.",
    "Seoul warned that any provocation would be met with force.",
    "The parties agreed to a prisoner exchange and further dialogue.",
    "Negotiators reached a deal to reopen the border crossing.",
    "Kyiv accused Moscow of shelling civilian areas.",
    "The court convicted two officers of torture.",
    "Officials denied that the ship was carrying weapons.",
    "The embassy rejected reports of a secret deal as false.",
    "The delegation had lunch at the residence.",
    "It was raining when the talks began.",
    "He said the army would retaliate.",
    "Peace.",
    "The foreign ministry, in a long statement released late on Friday after several days of silence, "
    "accused its neighbour of violating the agreement, massing troops near the frontier and spreading lies "
    "about a supposed plan to invade, which it firmly denied while calling for talks under UN auspices.",
    "Leaders welcomed the truce and promised to keep talking about the dam.",
    "The rebels were blamed for the attack on the aid convoy.",
    "Missiles struck a fuel depot near the port.",
]


def _split(rows: list[tuple[str, list[str]]], prefix: str) -> Dataset:
    return Dataset.from_list([{"id": f"{prefix}{i}", "text": t + ".", "labels": l, "group_id": f"g{prefix}{i}", "article_id": f"a{prefix}{i}"} for i, (t, l) in enumerate(rows)])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A small model trained long enough that its probabilities spread away from 0.5."""
    train, validation = _split(_sentences(TRAIN_ACTORS), "t"), _split(_sentences(VAL_ACTORS), "v")
    cfg = FinetuneConfig(max_length=48, epochs=4, patience=0, batch_size=16, learning_rate=3e-4, progress=False, seed=3, num_threads=1)
    out = tmp_path_factory.mktemp("onnx") / "model"
    return train_transformer(train, validation, TAGS, cfg, out).model_dir


@pytest.mark.slow
def test_int8_onnx_matches_torch_on_held_out_sentences(model_dir):
    texts = [t + "." for t, _ in _sentences(TEST_ACTORS)] + HELD_OUT
    assert len(texts) >= 100  # so that 99% allows at most one differing tag set
    torch_probs = TransformerScorer.load(model_dir, backend="torch").predict_proba(texts)
    onnx_scorer = TransformerScorer.load(model_dir, backend="onnx")
    onnx_probs = onnx_scorer.predict_proba(texts)
    # The model must have learned something, or parity near 0.5 would be trivial or noise.
    assert np.ptp(torch_probs) > 0.3
    assert np.max(np.abs(onnx_probs - torch_probs)) <= 0.03
    same = (apply_thresholds(onnx_probs, onnx_scorer.thresholds) == apply_thresholds(torch_probs, onnx_scorer.thresholds)).all(axis=1)
    assert same.mean() >= 0.99


@pytest.mark.slow
def test_int8_file_quantises_matmuls_and_keeps_dynamic_axes(model_dir):
    graph = onnx.load(str(model_dir / ONNX_FILE)).graph
    ops = {node.op_type for node in graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, sorted(ops)
    assert "MatMul" in QUANT_OP_TYPES
    for tensor in graph.input:
        dims = [d.dim_param or d.dim_value for d in tensor.type.tensor_type.shape.dim]
        assert dims == ["batch", "sequence"], (tensor.name, dims)


@pytest.mark.slow
def test_onnx_scores_do_not_depend_on_batch_size(model_dir):
    one = TransformerScorer.load(model_dir, backend="onnx", batch_size=1).predict_proba(HELD_OUT)
    many = TransformerScorer.load(model_dir, backend="onnx", batch_size=64).predict_proba(HELD_OUT)
    # Activations are quantised per batch, so batching may move scores a little, never a lot.
    assert np.max(np.abs(one - many)) <= 0.03


@pytest.mark.slow
def test_reexport_replaces_the_onnx_file_and_reports_the_probe_difference(model_dir, tmp_path):
    target = tmp_path / "again.int8.onnx"
    report = export_int8(model_dir / "hf", target, probe_texts=HELD_OUT[:4], max_length=48)
    assert report["path"] == target and target.exists()
    assert 0 <= report["max_abs_diff"] <= 0.03
    assert [p.name for p in tmp_path.iterdir()] == ["again.int8.onnx"], "temporary fp32 model left behind"


def test_export_of_a_missing_model_names_the_directory(tmp_path):
    with pytest.raises(OSError, match=r"no config.json; not a saved model"):
        export_int8(tmp_path / "nothing", tmp_path / "m.onnx")
