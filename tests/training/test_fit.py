"""The untracked fit and fold (training.fit): the inner split keeps groups whole, a fold is scored on its test rows."""
from __future__ import annotations

from training.baseline import BaselineConfig
from training.cv import grouped_kfold
from training.dataset import cluster_ids
from training.fit import inner_split, score_fold


def test_inner_split_is_a_grouped_eighty_twenty_partition(rows, tags):
    fit_rows, val_rows = inner_split(rows, tags, seed=3)
    assert sorted(r["id"] for r in fit_rows + val_rows) == sorted(r["id"] for r in rows)
    assert 0.65 < len(fit_rows) / len(rows) < 0.9
    clusters = dict(zip((r["id"] for r in rows), cluster_ids(rows)))
    assert not {clusters[r["id"]] for r in fit_rows} & {clusters[r["id"]] for r in val_rows}


def test_score_fold_trains_on_the_fold_and_scores_its_test_rows(rows, tags):
    train_idx, test_idx = grouped_kfold(rows, tags, 2, seed=0)[0]
    cfg = BaselineConfig(c_grid=[4.0], cv_folds=2, char_ngrams=(3, 4))
    metrics = score_fold("baseline", [rows[i] for i in train_idx], [rows[i] for i in test_idx], tags, cfg, seed=0)
    assert metrics["n"] == len(test_idx)
    # the template rows are learnable: a model that saw nothing would not reach this
    assert metrics["macro_f1"] > 0.5
    assert metrics["train_seconds"] > 0
