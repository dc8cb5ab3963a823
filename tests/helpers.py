"""Shared test helpers: the tag set, JSONL files, tiny labeled rows, tiny models and the CLI runner.

Every test module imports what it needs from here (no copies per folder). Nothing here
reads the project's data: rows are built inline.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

TAGS = ["escalation", "de-escalation", "accusation", "denial"]

# Hand-written sentences, four per tag and four without stance (predictor and model tests).
EXAMPLES = {
    "escalation": [
        "The army threatened to strike the border towns within days.",
        "Officials warned that troops were massing near the frontier.",
        "The government announced new sanctions and expelled two diplomats.",
        "Missiles will be deployed closer to the border, the minister warned.",
    ],
    "de-escalation": [
        "Both sides agreed to restore dialogue and hold talks next month.",
        "The ministers signed a ceasefire agreement in Geneva.",
        "Troops began to withdraw from the contested area after the deal.",
        "The president proposed talks to ease the tension.",
    ],
    "accusation": [
        "The foreign ministry accused its neighbour of violating the treaty.",
        "He blamed the alliance for its aggressive and irresponsible policy.",
        "Officials accused the rebels of shelling civilian areas.",
        "The envoy criticised the double standards of the western powers.",
    ],
    "denial": [
        "The Kremlin denied the reports as baseless.",
        "The ministry rejected the allegation and dismissed the reports.",
        "Officials denied any responsibility for the attack.",
        "The spokesman refuted claims that troops had crossed the border.",
    ],
    None: [
        "The meeting took place in Stockholm on Tuesday.",
        "The weather was mild and the delegates arrived by train.",
        "The conference hall was decorated with flags.",
        "Reporters gathered outside the building in the morning.",
    ],
}


def labeled_rows() -> list[dict]:
    """Sixty tiny labeled rows (each example three times, in separate articles)."""
    rows = []
    for copy in range(3):
        for tag, texts in EXAMPLES.items():
            for i, text in enumerate(texts):
                rid = f"{tag or 'none'}-{i}-{copy}"
                rows.append({"id": rid, "text": text, "labels": [tag] if tag else [],
                             "group_id": f"g-{tag}-{i}", "article_id": f"a-{copy}-{i}"})
    return rows


ACTORS = ["Russia", "NATO", "China", "the United States", "Iran", "the EU", "Turkey", "India"]
PHRASES = {
    "escalation": ["threatened to deploy troops near", "warned of missile strikes on", "imposed new sanctions on"],
    "de-escalation": ["agreed to resume talks with", "proposed a ceasefire with", "signed a trade deal with"],
    "accusation": ["accused", "blamed", "condemned the aggressive conduct of"],
    "denial": ["denied reports of a plot by", "rejected as baseless the claims about", "dismissed allegations against"],
    None: ["held a routine meeting in Geneva with", "published its annual budget alongside", "hosted a football match with"],
}


def make_rows(n: int = 80, seed: int = 0, prefix: str = "r") -> list[dict]:
    """n template rows whose tags a bag of n-grams can learn; every 4th row has a
    near-duplicate partner sharing its group_id."""
    rng = random.Random(seed)
    keys = list(PHRASES)
    rows = []
    for i in range(n):
        tag = keys[i % len(keys)]
        labels = [] if tag is None else [tag]
        a, b = rng.sample(ACTORS, 2)
        text = f"{a} {rng.choice(PHRASES[tag])} {b}."
        if tag == "accusation" and i % 3 == 0:
            text = f"{a} accused {b} and threatened to deploy troops near its border."
            labels = ["escalation", "accusation"]
        group = f"g-{i // 2}" if i % 4 < 2 else f"g-solo-{i}"
        rows.append({"id": f"{prefix}{i}", "text": text, "labels": labels, "group_id": group,
                     "article_id": f"a-{i // 3}"})
    return rows


def write_jsonl(path: Path, records: Sequence[Any]) -> Path:
    """Write records (dicts, or raw strings for deliberately broken lines) as JSONL; returns `path`."""
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write((rec if isinstance(rec, str) else json.dumps(rec)) + "\n")
    return Path(path)


def read_jsonl(path: Path) -> list[dict]:
    """All records of a JSONL file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_corrupt_parquet(path: Path, records: Sequence[dict], row_group_size: int, bad_group: int) -> Path:
    """A Parquet file of `records` in row groups of `row_group_size` whose row group `bad_group`
    (0-based) has its column data overwritten with garbage: the footer and other groups stay readable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(records)), path, row_group_size=row_group_size)
    group = pq.ParquetFile(path).metadata.row_group(bad_group)
    data = bytearray(Path(path).read_bytes())
    for c in range(group.num_columns):
        col = group.column(c)
        start = col.dictionary_page_offset or col.data_page_offset
        data[start:start + col.total_compressed_size] = b"\xff" * col.total_compressed_size
    Path(path).write_bytes(bytes(data))
    return Path(path)


def train_tiny_baseline(train_rows: Sequence[dict], validation_rows: Sequence[dict], out: Path,
                        tags: Sequence[str] = TAGS, **config: Any) -> Path:
    """A real baseline model directory at `out`, trained fast (one C, two folds, small n-grams).

    `config` overrides BaselineConfig fields. Returns the model directory.
    """
    from datasets import Dataset

    from training.baseline import BaselineConfig, train_baseline

    cfg = BaselineConfig(**{"c_grid": [4.0], "cv_folds": 2, "char_ngrams": (3, 4), **config})
    return train_baseline(Dataset.from_list(list(train_rows)), Dataset.from_list(list(validation_rows)),
                          list(tags), cfg, out).model_dir


class CountingScorer:
    """A real scorer that counts the sentences it scores and can fail after some calls
    (a crash mid-run, for the predictor's resume tests)."""

    def __init__(self, inner: Any, fail_after_calls: int | None = None):
        self.inner, self.kind, self.tags, self.thresholds = inner, inner.kind, inner.tags, inner.thresholds
        self.fail_after_calls = fail_after_calls
        self.calls = 0
        self.scored = 0

    def predict_proba(self, texts: Sequence[str]) -> Any:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.scored += len(texts)
        return self.inner.predict_proba(texts)


def tiny_onnx_model_dir(out: Path, tags: Sequence[str] = TAGS) -> Path:
    """A transformer model directory built without training: a word-level tokenizer and an ONNX
    graph (a random embedding per token, averaged into one logit per tag) that ONNX Runtime
    serves like an exported model. For tests of loading and scoring, not of quality."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from training.preprocess import PREPROCESS_VERSION

    out = Path(out)
    (out / "hf").mkdir(parents=True)
    words = ["[PAD]", "[UNK]"] + sorted({w.strip(".,").lower() for texts in EXAMPLES.values() for t in texts for w in t.split()})
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(out / "hf")
    (out / "hf" / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    table = np.random.default_rng(0).normal(size=(len(words), len(tags))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["embedded"]),
         helper.make_node("ReduceMean", ["embedded"], ["logits"], axes=[1], keepdims=0)],
        "tiny", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [None, None]),
                 helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, len(tags)])],
        [numpy_helper.from_array(table, "table")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), out / "model.onnx")
    meta = {"kind": "transformer", "tags": list(tags), "thresholds": {t: 0.5 for t in tags},
            "preprocess_version": PREPROCESS_VERSION, "max_length": 32,
            "onnx": {"file": "model.onnx", "quantization": None, "fused": False}}
    (out / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return out


def stance_command(*args: Any) -> list[str]:
    """The argv that runs the real `stance` CLI in a new process (for signals, timeouts, users)."""
    return [sys.executable, "-c", "from training.cli import main; main()", *map(str, args)]


def without_root_privileges(cmd: list[str]) -> list[str]:
    """`cmd` run so that file permissions bind it: as is for a normal user; for root, through
    setpriv without the two capabilities that bypass them (root reads a mode-0 folder otherwise).
    Skips the test when running as root without setpriv."""
    import pytest

    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): file permissions cannot bind")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """`path` as a folder no file can be created in, for the length of the block.

    Mode 0o555 for a normal user; root ignores modes, so as root the folder is made immutable
    (`chattr +i`, what a read-only mount does). Skips the test where neither takes effect.
    """
    import subprocess

    import pytest

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    immutable = False
    try:
        if os.access(path, os.W_OK) and os.geteuid() == 0:
            immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        probe = path / ".probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip(f"cannot make {path} read-only here (root without chattr support)")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o755)


def cli_invoker(*prefix: str, env: dict | None = None) -> Callable[..., Any]:
    """`invoke(*args)` running the real `stance` app in-process (CliRunner); returns the Result.

    `prefix` is put before the arguments (e.g. "label"); `env` is the default environment.
    """
    from typer.testing import CliRunner

    from training.cli import build_app

    app, runner = build_app(), CliRunner()

    def invoke(*args: Any, env: dict | None = env, **kwargs: Any) -> Any:
        return runner.invoke(app, [*prefix, *map(str, args)], env=env, **kwargs)

    return invoke
