"""Export a fine-tuned sequence classifier to ONNX: fused float by default, int8 opt-in.

The graph takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and
sequence axes, right padding) and returns ``logits``; the scorer applies the sigmoid.
The traced graph is fused with ONNX Runtime's transformer optimizer (attention,
LayerNorm, GELU become single kernels). ``quantize="int8"`` then quantises MatMul
weights dynamically (activations per batch at run time, no calibration data).
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# TorchScript-based exporter: it takes dynamic_axes directly and needs no onnxscript;
# opset 17 is supported by the installed torch, onnx and onnxruntime alike.
OPSET = 17
QUANTIZATIONS = ("none", "int8")
ONNX_FILES = {"none": "model.onnx", "int8": "model.int8.onnx"}
# Backbone families whose graphs the optimizer's "bert" fusions recognise.
FUSABLE_MODEL_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "mpnet"}
# Quantising only MatMul weights keeps the attention softmax, LayerNorm and the
# classifier's Gemm in float.
QUANT_OP_TYPES = ["MatMul"]
# Why float is the default: no int8 scheme kept the parity bound (>= 99% identical tag sets,
# error <= 0.03) on the gold-trained model, for little speed; the measurements are in
# docs/benchmarks.md ("Measured once"). Fusing first keeps the int8 graph's contrib
# kernels (Attention, SkipLayerNormalization, BiasGelu) when int8 is asked for.


def _logits_module(model: Any) -> Any:
    """Wrap a HF model so the traced graph has positional inputs and one output."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return LogitsOnly(model).eval()


@contextlib.contextmanager
def _root_log_level(level: int):
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(previous)


def export_fp32(hf_dir: Path | str, target: Path | str, max_length: int = 128) -> Path:
    """Trace the classifier in `hf_dir` into a float ONNX file at `target`.

    The model is loaded with eager attention: the SDPA kernel does not trace into
    portable ONNX ops. Raises OSError naming `hf_dir` when the weights are missing.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    hf_dir, target = Path(hf_dir), Path(target)
    if not (hf_dir / "config.json").exists():
        raise OSError(f"{hf_dir}: no config.json; not a saved model")
    from training.transformer_scorer import quiet_transformers

    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(hf_dir, attn_implementation="eager")
    wrapper = _logits_module(model)
    # Two rows of different lengths: the trace must not bake in a batch or sequence size.
    length = min(16, max_length)
    ids = torch.ones((2, length), dtype=torch.long)
    mask = torch.ones((2, length), dtype=torch.long)
    mask[1, length // 2 :] = 0
    # The tracer warns about the mask's padding check; for an encoder the key length
    # always equals the mask length, so the constant it records is correct.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*aten::index.*")
        # The TorchScript exporter is chosen on purpose (see OPSET); its deprecation notes are noise.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return target


def down_projections(model_path: Path | str) -> list[str]:
    """Names of MatMul nodes whose weight narrows the width (in > out): FFN outputs.

    Structural rather than by node name, so it holds for any BERT-like backbone.
    """
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    names = []
    for node in graph.node:
        weights = [shapes[i] for i in node.input if i in shapes and len(shapes[i]) == 2]
        if node.op_type == "MatMul" and weights and weights[0][0] > weights[0][1]:
            names.append(node.name)
    return names



def fuse(source: Path | str, target: Path | str, hf_dir: Path | str) -> bool:
    """Fuse the graph at `source` into `target` with ORT's transformer optimizer.

    Heads and width come from `hf_dir`'s config. Returns True when fused; a backbone
    family the optimizer does not know is copied unchanged (False), since ORT's own
    session-time fusions still apply to an unquantised graph.
    """
    import shutil

    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(hf_dir)
    if config.model_type not in FUSABLE_MODEL_TYPES:
        shutil.copyfile(source, target)
        return False
    with _root_log_level(logging.ERROR):  # the optimizer logs every fusion at INFO/WARNING
        model = optimize_model(
            str(source), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
        )
    model.save_model_to_file(str(target))
    return True


def quantize_int8(source: Path | str, target: Path | str) -> Path:
    """Dynamic int8 quantisation of `source` (preferably fused): MatMul weights uint8 per
    channel, activations quantised per batch at run time, FFN down-projections in float.

    uint8 weights avoid the u8*s8 saturation of AVX2 kernels; the down-projections' input
    is the GELU output, whose long tail wastes most of a per-batch 8-bit range.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _root_log_level(logging.ERROR):  # its "consider pre-processing" note goes to the root logger
        quantize_dynamic(
            model_input=str(source),
            model_output=str(target),
            op_types_to_quantize=QUANT_OP_TYPES,
            weight_type=QuantType.QUInt8,
            per_channel=True,
            nodes_to_exclude=down_projections(source),
            # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape
            # inference; their outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return Path(target)


def export_onnx(
    hf_dir: Path | str,
    target: Path | str,
    quantize: str = "none",
    probe_texts: Sequence[str] = (),
    max_length: int = 128,
) -> dict[str, Any]:
    """Export `hf_dir` to a fused ONNX file at `target`, int8-quantised when asked.

    quantize: "none" (float, the default) or "int8" (dynamic, see `quantize_int8`).
    probe_texts: sentences scored by both models (a quick check, not the parity test).
    Returns {"path", "meta": {"file", "quantization", "fused"} for meta.json,
    "max_abs_diff": largest probability difference on the probe, or None}.
    Raises ValueError for an unknown `quantize`, OSError naming `hf_dir` without weights.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Intermediate graphs live beside the target (same file system) and never outlive the call.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = export_fp32(hf_dir, Path(tmp) / "model.fp32.onnx", max_length)
        fused_path = Path(tmp) / "model.fused.onnx"
        fused = fuse(fp32, fused_path, hf_dir)
        final = quantize_int8(fused_path, Path(tmp) / "model.int8.onnx") if quantize == "int8" else fused_path
        final.replace(target)
    report: dict[str, Any] = {
        "path": target,
        "meta": {"file": target.name, "quantization": quantize, "fused": fused},
        "max_abs_diff": None,
    }
    if probe_texts:
        report["max_abs_diff"] = float(np.max(np.abs(_probe(hf_dir, target, probe_texts, max_length))))
    return report


def _probe(hf_dir: Path | str, onnx_path: Path, texts: Sequence[str], max_length: int) -> np.ndarray:
    """Probability differences (onnx - torch) on `texts`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.transformer_scorer import available_cores, encode_texts, onnx_session, pad_batch, quiet_transformers, sigmoid

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
    session = onnx_session(onnx_path, available_cores())
    ids, mask = pad_batch(encode_texts(tokenizer, texts, max_length), tokenizer.pad_token_id or 0)
    with torch.inference_mode():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    onnx_logits = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    return sigmoid(onnx_logits.astype(np.float64)) - sigmoid(ref.astype(np.float64))
