"""Score sentences with a fine-tuned transformer model directory.

Two backends behind one `Scorer` interface: ``onnx`` (the exported graph named in
meta.json's ``onnx.file``, fused float unless exported with int8, served by ONNX
Runtime: the fast default on CPU) and ``torch`` (the ``hf/`` weights, the reference
the ONNX parity test compares against).
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from training.preprocess import PREPROCESS_VERSION, normalize_text
from training.model_dir import read_meta

HF_SUBDIR = "hf"
# Model directories written before meta.json recorded the ONNX file name hold this one.
LEGACY_ONNX_FILE = "model.int8.onnx"
BACKENDS = ("onnx", "torch")
# Measured on ~25-word sentences, 2 threads: 16-32 rows per run is fastest; larger
# batches fall out of cache and pad more.
DEFAULT_BATCH_SIZE = 32


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' info logs and weight loading/saving bars; restored on exit.

    The "newly initialized weights" notice is expected for a new head, and the bars
    would interleave with the callers' own progress bars.
    """
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def onnx_file(model_dir: Path, meta: dict) -> Path:
    """The ONNX graph of a model directory: meta.json's ``onnx.file``, else the legacy name."""
    return model_dir / str(meta.get("onnx", {}).get("file", LEGACY_ONNX_FILE))


def onnx_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session for `path` on `threads` intra-op threads.

    Raises FileNotFoundError naming the model directory when the file is missing, and
    ValueError naming the file when it is empty, truncated or not an ONNX graph.
    """
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    if not path.exists():
        raise FileNotFoundError(f"{path.parent}: missing {path.name}; re-export with training.onnx_export")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, not an ONNX graph; copy the model folder again or re-export it "
                         "(training.onnx_export)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One operator at a time: a BERT graph is a chain, parallel branches would only
    # compete with the intra-op threads for the same cores.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.InvalidArgument, ort_errors.Fail) as exc:
        # ONNX Runtime's message is long; after "failed:" (and the C++ source location) comes the reason.
        reason = str(exc).strip().splitlines()[0].split("failed:", 1)[-1]
        reason = re.sub(r"^/\S+:\d+ [^(]*\([^)]*\)\s*", "", reason).split(". ")[0].strip().rstrip(".")
        raise ValueError(f"{path}: cannot load the ONNX graph ({reason}): the file is truncated or corrupt; "
                         "copy the model folder again or re-export it (training.onnx_export)") from None


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids (unpadded) of normalised texts; the same call in training and scoring."""
    cleaned = [normalize_text(t) for t in texts]
    return tokenizer(cleaned, truncation=True, max_length=max_length)["input_ids"]


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists to the longest in the batch: (input_ids, attention_mask) int64."""
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return input_ids, mask


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


class TransformerScorer:
    """`training.model_dir.Scorer` for ``kind == "transformer"`` model directories."""

    kind = "transformer"

    def __init__(self, model_dir: Path, meta: dict, tokenizer: Any, run_batch: Any, backend: str, batch_size: int):
        self.model_dir = model_dir
        self.meta = meta
        self.tags: list[str] = list(meta["tags"])
        self.thresholds = np.array([float(meta["thresholds"][t]) for t in self.tags])
        self.max_length = int(meta["max_length"])
        self.backend = backend
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._run_batch = run_batch

    @classmethod
    def load(
        cls,
        model_dir: Path | str,
        backend: str = "onnx",
        batch_size: int = DEFAULT_BATCH_SIZE,
        num_threads: int | None = None,
    ) -> "TransformerScorer":
        """Load a transformer model directory for scoring.

        backend: "onnx" (the graph in meta.json's onnx.file, or model.int8.onnx for
        directories older than that key, through ONNX Runtime) or "torch" (hf/ weights).
        num_threads: intra-op threads; default all cores available to this process.
        Raises FileNotFoundError/ValueError naming the directory when files are missing,
        the kind is wrong or the preprocessing version differs from this code's.
        """
        from transformers import AutoTokenizer

        model_dir = Path(model_dir)
        meta = read_meta(model_dir)
        if meta["kind"] != "transformer":
            raise ValueError(f"{model_dir}: model kind is {meta['kind']!r}, expected 'transformer'")
        if str(meta["preprocess_version"]) != PREPROCESS_VERSION:
            raise ValueError(
                f"{model_dir}: trained with preprocessing version {meta['preprocess_version']}, "
                f"this code has {PREPROCESS_VERSION}; retrain the model"
            )
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        hf_dir = model_dir / HF_SUBDIR
        if not (hf_dir / "config.json").exists():
            raise FileNotFoundError(f"{model_dir}: missing {HF_SUBDIR}/ (weights and tokenizer)")
        threads = num_threads or available_cores()
        tokenizer = AutoTokenizer.from_pretrained(hf_dir)
        if backend == "onnx":
            run_batch = _OnnxRunner(onnx_file(model_dir, meta), threads)
            if isinstance(run_batch.width, int) and run_batch.width != len(meta["tags"]):
                raise ValueError(f"{run_batch.path}: the graph scores {run_batch.width} tags but meta.json lists "
                                 f"{len(meta['tags'])}; the model folder is inconsistent: copy it again or re-export it")
        else:
            run_batch = _torch_runner(hf_dir, threads)
        return cls(model_dir, meta, tokenizer, run_batch, backend, batch_size)

    def set_threads(self, threads: int) -> None:
        """Intra-op threads of the ONNX backend from the next batch on (one scoring worker's share)."""
        if isinstance(self._run_batch, _OnnxRunner):
            self._run_batch.set_threads(threads)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(tags)) probabilities, rows in the order of `texts`."""
        texts = list(texts)
        out = np.zeros((len(texts), len(self.tags)), dtype=np.float64)
        if not texts:
            return out
        ids = encode_texts(self._tokenizer, texts, self.max_length)
        # Sorted by length: padding to the batch's longest sentence dominates CPU time.
        order = np.argsort([len(x) for x in ids], kind="stable")
        pad_id = self._tokenizer.pad_token_id or 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            input_ids, mask = pad_batch([ids[i] for i in idx], pad_id)
            out[idx] = sigmoid(self._run_batch(input_ids, mask).astype(np.float64))
        return out


_INHERITED_SESSIONS: list[Any] = []


class _OnnxRunner:
    """Runs the ONNX graph, one session per process.

    A session's thread pool does not survive fork: a forked scoring worker
    (training.predict.workers) opens its own session on first use. The session opened
    at load checks the file and the graph before any work starts.
    """

    def __init__(self, path: Path, threads: int):
        self.path, self.threads = path, threads
        self._pid: int | None = None
        self._open()

    def _open(self) -> None:
        if self._pid not in (None, os.getpid()):
            # Inherited over fork: freeing it would join intra-op threads that do not
            # exist in this process and hang forever. Keep it for the process's lifetime.
            _INHERITED_SESSIONS.append(self._run)
        session = onnx_session(self.path, self.threads)
        self.width = session.get_outputs()[0].shape[-1]  # tags scored; a name when the graph leaves it open
        self._run = session.run
        self._pid, self._stale = os.getpid(), False

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            self.threads = threads
            self._stale = True  # reopened on the next batch

    def __call__(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._stale or self._pid != os.getpid():
            self._open()
        return self._run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]


def _torch_runner(hf_dir: Path, threads: int):
    import torch
    from transformers import AutoModelForSequenceClassification

    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(hf_dir)
    model.eval()

    def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # Thread count is per call: the process-wide setting is restored afterwards.
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                logits = model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask)).logits
        finally:
            torch.set_num_threads(previous)
        return logits.float().numpy()

    return run
