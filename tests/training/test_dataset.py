"""Grouped, stratified splits: no leakage, tag balance, fingerprint, saved DatasetDict."""
from __future__ import annotations

import pytest

from tests.helpers import cli_invoker, make_rows, write_jsonl
from training.dataset import (DatasetConfig, SplitError, cluster_ids, fingerprint, load_dataset, save_dataset,
                              split_rows, summarize, tag_counts)


def test_no_group_or_article_crosses_splits(rows, tags):
    splits = split_rows(rows, tags, DatasetConfig())
    for key in ("group_id", "article_id"):
        owner: dict[str, str] = {}
        for name, part in splits.items():
            for row in part:
                assert owner.setdefault(row[key], name) == name, f"{key} {row[key]} in {owner[row[key]]} and {name}"
    assert sum(len(p) for p in splits.values()) == len(rows)


def test_clusters_join_rows_sharing_group_or_article():
    rows = [{"group_id": "g1", "article_id": "a1"}, {"group_id": "g1", "article_id": "a2"},
            {"group_id": "g2", "article_id": "a2"}, {"group_id": "g3", "article_id": "a3"}]
    c = cluster_ids(rows)
    assert c[0] == c[1] == c[2] != c[3]


def test_every_tag_reaches_every_split_in_proportion(tags):
    rows = make_rows(200, seed=1)
    splits = split_rows(rows, tags, DatasetConfig(train=0.6, validation=0.2, test=0.2))
    total = tag_counts(rows, tags)
    for name, ratio in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        counts = tag_counts(splits[name], tags)
        for t in tags:
            assert counts[t] > 0
            assert abs(counts[t] - ratio * total[t]) <= 0.1 * total[t] + 6, (name, t, counts[t], total[t])


def test_split_is_seeded(rows, tags):
    a = split_rows(rows, tags, DatasetConfig(seed=3))
    b = split_rows(rows, tags, DatasetConfig(seed=3))
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(split_rows(rows, tags, DatasetConfig(seed=4)))


def test_tag_missing_from_train_is_refused(tags):
    rows = [r for r in make_rows(40) if "denial" not in r["labels"]]
    with pytest.raises(SplitError, match="denial have no example in the train split"):
        split_rows(rows, tags, DatasetConfig())


def test_bad_ratios_name_the_problem():
    with pytest.raises(ValueError, match="sum to 1"):
        DatasetConfig(train=0.5, validation=0.2, test=0.2)


def test_save_and_load_round_trip(tmp_path, rows, tags):
    splits = split_rows(rows, tags, DatasetConfig())
    meta = summarize(splits, tags, DatasetConfig(), "inline")
    out = save_dataset(splits, meta, tmp_path / "ds")
    save_dataset(splits, meta, out)  # rerun replaces cleanly
    dsd, loaded = load_dataset(out)
    assert set(dsd) == {"train", "validation", "test"}
    assert dsd["train"].column_names == ["id", "text", "labels", "group_id", "article_id"]
    assert loaded["fingerprint"] == fingerprint(splits)
    assert loaded["sizes"]["test"] == len(dsd["test"])


def test_fingerprint_changes_with_a_label(rows, tags):
    splits = split_rows(rows, tags, DatasetConfig())
    before = fingerprint(splits)
    first = splits["test"][0]
    splits["test"][0] = {**first, "labels": [] if first["labels"] else ["denial"]}
    assert fingerprint(splits) != before


def test_dataset_build_prints_a_source_path_with_markup_as_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gold[").mkdir()
    write_jsonl(tmp_path / "gold[" / "b].jsonl", make_rows(60))  # the path gold[/b].jsonl
    result = cli_invoker()("dataset", "build", "gold[/b].jsonl", "--out", "ds[/b]")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "(gold[/b].jsonl)" in flat and "saved to ds[/b]" in flat
