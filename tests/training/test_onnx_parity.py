"""ONNX export: the served fused float graph matches PyTorch; int8 is an opt-in."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from datasets import Dataset

from training.finetune import FinetuneConfig, train_transformer
from training.onnx_export import QUANT_OP_TYPES, export_onnx
from tests.helpers import TAGS
from training.thresholds import apply_thresholds
from training.transformer_scorer import LEGACY_ONNX_FILE, TransformerScorer, onnx_file

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


def _graph(path: Path) -> onnx.GraphProto:
    return onnx.load(str(path)).graph


def _dynamic_axes(graph: onnx.GraphProto) -> dict[str, list]:
    return {t.name: [d.dim_param or d.dim_value for d in t.type.tensor_type.shape.dim] for t in graph.input}


@pytest.mark.slow
def test_served_onnx_matches_torch_on_held_out_sentences(model_dir):
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
def test_model_dir_serves_a_fused_float_graph_recorded_in_meta(model_dir):
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["onnx"] == {"file": "model.onnx", "quantization": "none", "fused": True}
    graph = _graph(model_dir / "model.onnx")
    ops = {node.op_type for node in graph.node}
    # Fused by the transformer optimizer, not quantised.
    assert {"Attention", "SkipLayerNormalization"} <= ops, sorted(ops)
    assert not ops & {"MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear"}, sorted(ops)
    assert _dynamic_axes(graph) == {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"]}
    assert not (model_dir / LEGACY_ONNX_FILE).exists()


@pytest.mark.slow
def test_int8_opt_in_quantises_matmuls_and_old_model_dirs_still_load_it(model_dir, tmp_path):
    legacy = tmp_path / "legacy"
    shutil.copytree(model_dir, legacy, ignore=shutil.ignore_patterns("*.onnx"))
    report = export_onnx(legacy / "hf", legacy / LEGACY_ONNX_FILE, quantize="int8", probe_texts=HELD_OUT, max_length=48)
    assert report["meta"] == {"file": LEGACY_ONNX_FILE, "quantization": "int8", "fused": True}
    graph = _graph(legacy / LEGACY_ONNX_FILE)
    ops = {node.op_type for node in graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, sorted(ops)
    assert "MatMul" in QUANT_OP_TYPES and "Attention" in ops
    assert _dynamic_axes(graph) == {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"]}
    # int8 is looser by design (it misses the parity bound on real models); a broken graph
    # or wrong weights show as errors of 0.3 and more.
    assert 0 < report["max_abs_diff"] < 0.1
    # A model directory from before meta.json named its graph: model.int8.onnx by convention.
    meta = json.loads((legacy / "meta.json").read_text())
    del meta["onnx"]
    (legacy / "meta.json").write_text(json.dumps(meta))
    assert onnx_file(legacy, meta) == legacy / LEGACY_ONNX_FILE
    int8 = TransformerScorer.load(legacy).predict_proba(HELD_OUT)
    float_ = TransformerScorer.load(model_dir).predict_proba(HELD_OUT)
    assert 0 < np.max(np.abs(int8 - float_)) < 0.1


@pytest.mark.slow
def test_onnx_scores_do_not_depend_on_batch_size(model_dir):
    one = TransformerScorer.load(model_dir, backend="onnx", batch_size=1).predict_proba(HELD_OUT)
    many = TransformerScorer.load(model_dir, backend="onnx", batch_size=64).predict_proba(HELD_OUT)
    # Float graph: padding to a batch's longest sentence is masked out exactly.
    assert np.max(np.abs(one - many)) <= 1e-4


@pytest.mark.slow
def test_reexport_replaces_the_onnx_file_and_reports_the_probe_difference(model_dir, tmp_path):
    target = tmp_path / "again.onnx"
    target.write_bytes(b"stale")
    report = export_onnx(model_dir / "hf", target, probe_texts=HELD_OUT[:4], max_length=48)
    assert report["path"] == target and target.stat().st_size > 1_000_000
    assert 0 <= report["max_abs_diff"] <= 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["again.onnx"], "temporary graphs left behind"


@pytest.mark.slow
def test_model_dir_without_its_onnx_file_names_the_directory_and_file(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken, ignore=shutil.ignore_patterns("*.onnx"))
    with pytest.raises(FileNotFoundError, match=r"broken: missing model.onnx"):
        TransformerScorer.load(broken)


def test_export_of_a_missing_model_names_the_directory(tmp_path):
    with pytest.raises(OSError, match=r"no config.json; not a saved model"):
        export_onnx(tmp_path / "nothing", tmp_path / "m.onnx")


def test_unknown_quantization_is_rejected_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"quantize must be one of none, int8, got 'int4'"):
        export_onnx(tmp_path / "nothing", tmp_path / "m.onnx", quantize="int4")
    assert not (tmp_path / "m.onnx").exists()
