"""Grouped, multi-label-stratified train / validation / test splits saved as a HF DatasetDict.

Sentences that share a near-duplicate group or an article form one *cluster* and
always land in the same split, so no paraphrase of a test sentence is trained on.
Clusters are assigned by iterative stratification (Sechidis et al., 2011) adapted to
clusters: the rarest tag is placed first, each cluster goes to the split that still
needs that tag most.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from datasets import Dataset, DatasetDict, load_from_disk
from pydantic import model_validator

from labeling.config import DEFAULT_SEED, StrictModel
from labeling.io import atomic_dir, atomic_open
from training.labeled import label_matrix

SPLITS = ("train", "validation", "test")
META_FILE = "dataset_meta.json"


class DatasetConfig(StrictModel):
    """Split ratios (summing to 1) and the seed of the split."""

    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15
    seed: int = DEFAULT_SEED

    @model_validator(mode="after")
    def _ratios(self) -> "DatasetConfig":
        ratios = (self.train, self.validation, self.test)
        if any(r <= 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(f"train, validation, test must be > 0 and sum to 1, got {ratios}")
        return self


class SplitError(ValueError):
    """A split cannot be used (e.g. a tag has no example in train)."""


def cluster_ids(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Cluster index per row: rows sharing a group_id or an article_id are one cluster (union-find)."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        for key in ("group_id", "article_id"):
            anchor = first.setdefault((key, row[key]), i)
            parent[find(i)] = find(anchor)
    roots = [find(i) for i in range(len(rows))]
    _, dense = np.unique(roots, return_inverse=True)
    return dense


def stratified_cluster_assign(y: np.ndarray, clusters: np.ndarray, ratios: Sequence[float], seed: int) -> np.ndarray:
    """Assign each row to a part (0..len(ratios)-1), keeping clusters whole.

    y: (n, k) 0/1 labels; clusters: (n,) cluster index per row. Parts get about
    ratio x rows and ratio x positives of each tag. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    ratios = np.asarray(ratios, dtype=float)
    n_clusters = int(clusters.max()) + 1 if len(clusters) else 0
    size = np.bincount(clusters, minlength=n_clusters).astype(float)
    tag_counts = np.zeros((n_clusters, y.shape[1]))
    np.add.at(tag_counts, clusters, y)
    need_rows = ratios * len(clusters)
    need_tags = ratios[:, None] * tag_counts.sum(axis=0)[None, :]
    part_of = np.full(n_clusters, -1)
    # random order, then stable sorts: ties broken by the seed, not by input order
    order = rng.permutation(n_clusters)
    while True:
        open_ = order[part_of[order] < 0]
        remaining = tag_counts[open_].sum(axis=0)
        if not remaining.any():
            break
        tag = int(np.argmin(np.where(remaining > 0, remaining, np.inf)))
        for c in open_[tag_counts[open_, tag] > 0]:
            scores = np.lexsort((rng.random(len(ratios)), need_rows, need_tags[:, tag]))
            part = int(scores[-1])
            part_of[c] = part
            need_tags[part] -= tag_counts[c]
            need_rows[part] -= size[c]
    for c in order[part_of[order] < 0]:
        part = int(np.argmax(need_rows))
        part_of[c] = part
        need_rows[part] -= size[c]
    return part_of[clusters]


def fingerprint(splits: dict[str, Sequence[dict[str, Any]]]) -> str:
    """sha256 (16 hex) of the split contents: ids, texts, labels, groups, per split, order-free."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        rows = sorted(splits[name], key=lambda r: r["id"])
        payload = [[r["id"], r["text"], r["labels"], r["group_id"], r["article_id"]] for r in rows]
        digest.update(json.dumps([name, payload], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def tag_counts(rows: Sequence[dict[str, Any]], tags: Sequence[str]) -> dict[str, int]:
    """Number of rows carrying each tag, plus `none` for rows without a tag."""
    counts = {t: 0 for t in tags}
    counts["none"] = 0
    for row in rows:
        for t in row["labels"]:
            counts[t] += 1
        if not row["labels"]:
            counts["none"] += 1
    return counts


def split_rows(rows: Sequence[dict[str, Any]], tags: Sequence[str], cfg: DatasetConfig) -> dict[str, list[dict]]:
    """Grouped, stratified split of validated labeled rows into train / validation / test.

    Raises SplitError when a tag has no example in train (the model could never learn it).
    """
    y = label_matrix(rows, tags)
    parts = stratified_cluster_assign(y, cluster_ids(rows), (cfg.train, cfg.validation, cfg.test), cfg.seed)
    splits = {name: [row for row, p in zip(rows, parts) if p == i] for i, name in enumerate(SPLITS)}
    train_counts = tag_counts(splits["train"], tags)
    missing = [t for t in tags if train_counts[t] == 0]
    if missing:
        raise SplitError(f"tag(s) {', '.join(missing)} have no example in the train split "
                         f"({len(splits['train'])} rows); label more examples before training")
    return splits


def to_dataset_dict(splits: dict[str, list[dict]]) -> DatasetDict:
    """HF DatasetDict with columns id, text, labels, group_id, article_id."""
    columns = ("id", "text", "labels", "group_id", "article_id")
    return DatasetDict({
        name: Dataset.from_dict({c: [r[c] for r in rows] for c in columns}) for name, rows in splits.items()
    })


def summarize(splits: dict[str, list[dict]], tags: Sequence[str], cfg: DatasetConfig, source: str) -> dict[str, Any]:
    """The dataset's metadata: fingerprint, tags, sizes and tag counts per split, config, source."""
    return {
        "fingerprint": fingerprint(splits),
        "tags": list(tags),
        "sizes": {name: len(rows) for name, rows in splits.items()},
        "tag_counts": {name: tag_counts(rows, tags) for name, rows in splits.items()},
        "config": cfg.model_dump(),
        "source": source,
    }


def save_dataset(splits: dict[str, list[dict]], meta: dict[str, Any], out_dir: Path | str) -> Path:
    """Save the DatasetDict and dataset_meta.json to `out_dir`, replacing it only when complete."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        to_dataset_dict(splits).save_to_disk(str(tmp))
        with atomic_open(tmp / META_FILE) as fh:
            json.dump(meta, fh, indent=2, ensure_ascii=False)
    return out_dir


def is_dataset_dir(path: Path | str) -> bool:
    """True when `path` was written by save_dataset."""
    return (Path(path) / META_FILE).is_file()


def load_dataset(path: Path | str) -> tuple[DatasetDict, dict[str, Any]]:
    """Load a saved dataset directory: (DatasetDict, metadata). Raises FileNotFoundError naming it."""
    path = Path(path)
    if not is_dataset_dir(path):
        raise FileNotFoundError(f"{path}: not a dataset directory (no {META_FILE}); run `stance dataset build`")
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    return load_from_disk(str(path)), meta


def rows_of(ds: Dataset) -> list[dict[str, Any]]:
    """Plain row dicts of a Dataset split."""
    return [dict(r) for r in ds]


def load_dataset_splits(path: Path | str, tags: Sequence[str],
                        against: str = "the schema") -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """A saved dataset directory as ({split: rows}, metadata). Raises FileNotFoundError when it
    is not one, and ValueError when it was built for other tags than `tags` (`against` names
    whose tags they are in the message)."""
    dsd, meta = load_dataset(path)
    if meta["tags"] != list(tags):
        raise ValueError(f"{path}: built for tags {meta['tags']}, {against} has {list(tags)}; rebuild it")
    return {name: rows_of(dsd[name]) for name in dsd}, meta
