"""Grouped K-fold: folds partition the data, clusters stay whole, too-rare tags are refused."""
from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import make_rows
from training.cv import CVError, check_cv_possible, cross_validate, grouped_kfold, summarize_folds
from training.dataset import cluster_ids


def test_folds_partition_rows_and_keep_clusters_whole(rows, tags):
    folds = grouped_kfold(rows, tags, 4, seed=1)
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests.tolist()) == list(range(len(rows)))
    clusters = cluster_ids(rows)
    for train_idx, test_idx in folds:
        assert not set(clusters[train_idx]) & set(clusters[test_idx])


def test_tag_with_fewer_than_k_examples_is_refused(tags):
    rows = make_rows(40)
    rows = [r for r in rows if "denial" not in r["labels"]] + [r for r in rows if "denial" in r["labels"]][:2]
    with pytest.raises(CVError, match=r"at least 5 examples of every tag; too few: denial \(2\)"):
        check_cv_possible(rows, tags, 5)


def test_cross_validate_calls_each_fold_and_summarises(rows, tags):
    seen = []

    def run_fold(fold, train, test):
        seen.append((fold, len(train), len(test)))
        return {"macro_f1": float(fold), "n": float(len(test))}

    outcome = cross_validate(rows, tags, 3, 0, run_fold)
    assert [s[0] for s in seen] == [0, 1, 2]
    assert all(a + b == len(rows) for _, a, b in seen)
    assert outcome["summary"]["macro_f1"] == {"mean": 1.0, "std": 1.0, "min": 0.0, "max": 2.0}


def test_summarize_single_fold_has_zero_spread():
    assert summarize_folds([{"f1": 0.5}])["f1"]["std"] == 0.0
