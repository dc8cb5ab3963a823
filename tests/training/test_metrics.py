"""Metric functions against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import (bootstrap_f1, confusion_counts, evaluate_predictions, exact_match, flatten_metrics,
                              micro_macro_f1, pr_auc)

Y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
P = np.array([[0.9, 0.7], [0.2, 0.8], [0.1, 0.6], [0.6, 0.3]])
T = np.array([0.5, 0.5])
# predictions at 0.5: [[1,1],[0,1],[0,1],[1,0]]
# tag a: tp1 fp1 fn1 tn1 -> P .5 R .5 F1 .5 ; tag b: tp2 fp1 fn0 tn1 -> P 2/3 R 1 F1 .8
# micro: tp3 fp2 fn1 -> 6/9 ; macro (.5+.8)/2 = .65 ; AP both tags: (1 + 2/3)/2 = 5/6


def test_per_tag_and_averaged_scores_match_hand_computation():
    m = evaluate_predictions(Y, P, T, ["a", "b"], n_boot=50)
    a, b = m["per_tag"]["a"], m["per_tag"]["b"]
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (b["tp"], b["fp"], b["fn"], b["tn"], b["support"]) == (2, 1, 0, 1, 2)
    assert a["pr_auc"] == pytest.approx(5 / 6) and b["pr_auc"] == pytest.approx(5 / 6)
    assert m["micro_f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx(0.65)
    assert m["n"] == 4


def test_exact_match_counts_whole_tag_sets():
    # at 0.5 only row 3 ([0, 1]) has the gold tag set; an empty row matches an empty row
    assert evaluate_predictions(Y, P, T, ["a", "b"], n_boot=10)["exact_match"] == pytest.approx(0.25)
    assert exact_match([[0, 0], [1, 0], [1, 1]], [[0, 0], [1, 1], [1, 1]]) == pytest.approx(2 / 3)
    assert math.isnan(exact_match(np.zeros((0, 2)), np.zeros((0, 2))))


def test_thresholds_change_decisions_per_tag():
    micro, macro = micro_macro_f1(Y, P >= np.array([0.95, 0.65]))
    # tag a predicts nothing: F1 0; tag b predicts rows 0,1: tp1 fp1 fn1 -> .5
    assert macro == pytest.approx(0.25)
    assert micro == pytest.approx(2 / (2 + 1 + 3))


def test_a_tag_with_nothing_to_score_is_left_out_of_the_macro_average():
    y = np.array([[1, 0], [0, 0]])
    # tag b: no gold tag and none predicted -> not a measurement, left out (the plain mean said 0.5)
    assert micro_macro_f1(y, y)[1] == pytest.approx(1.0)
    # a false b is a measurement: F1 0 for b counts
    assert micro_macro_f1(y, np.array([[1, 1], [0, 0]]))[1] == pytest.approx(0.5)
    # nothing to score at all: nan, and evaluate_predictions still returns its figures
    m = evaluate_predictions(np.zeros((3, 2)), np.full((3, 2), 0.1), T, ["a", "b"], n_boot=20)
    assert math.isnan(m["macro_f1"]) and math.isnan(m["macro_f1_low"]) and m["exact_match"] == 1.0
    assert math.isnan(m["per_tag"]["b"]["f1"]) and "f1_b" not in flatten_metrics(m)  # not a measurement, not logged
    from training.tracking import headline_metrics

    assert headline_metrics({"test": m}) == {"exact/test": 1.0}  # nor are the run's headline figures


def test_bootstrap_leaves_a_rare_tag_out_of_the_resamples_that_miss_it():
    # tag b: one gold row, rightly found, nothing else; tag a: 30 rows, 6 wrong. About a third of the
    # resamples miss the b row: there b has nothing to score, and macro is a's F1 alone (was (a + 0) / 2)
    y = np.zeros((31, 2), dtype=int)
    y[:15, 0], y[30, 1] = 1, 1
    pred = y.copy()
    pred[:3, 0], pred[15:18, 0] = 0, 1
    ci = bootstrap_f1(y, pred, n_boot=400, seed=3)
    weights = np.random.default_rng(3).multinomial(31, np.full(31, 1 / 31), size=400)
    macros = [micro_macro_f1(np.repeat(y, w, axis=0), np.repeat(pred, w, axis=0))[1] for w in weights]
    assert ci["macro_f1"] == pytest.approx(tuple(np.percentile(macros, [2.5, 97.5])))
    assert ci["macro_f1"][0] > 0.5  # counting the missed tag as 0 would put the low end near a's F1 / 2
    assert ci["f1"][1] == (1.0, 1.0)  # b, wherever it is scored, is right
    assert ci["macro_f1"][0] <= micro_macro_f1(y, pred)[1] <= ci["macro_f1"][1]


def test_confusion_counts_sum_to_rows():
    c = confusion_counts(Y, P >= 0.5)
    assert (c["tp"] + c["fp"] + c["fn"] + c["tn"]).tolist() == [4, 4]


def test_pr_auc_is_nan_without_positives():
    assert math.isnan(pr_auc(np.zeros(3), np.array([0.1, 0.5, 0.9])))


def test_bootstrap_matches_explicit_resampling_and_is_seeded():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=(60, 3))
    pred = np.where(rng.random((60, 3)) < 0.8, y, 1 - y)
    ci = bootstrap_f1(y, pred, n_boot=200, seed=7)
    assert ci == bootstrap_f1(y, pred, n_boot=200, seed=7)
    # the same resamples, drawn the slow way
    weights = np.random.default_rng(7).multinomial(60, np.full(60, 1 / 60), size=200)
    macros = [micro_macro_f1(np.repeat(y, w, axis=0), np.repeat(pred, w, axis=0))[1] for w in weights]
    assert ci["macro_f1"] == pytest.approx(tuple(np.percentile(macros, [2.5, 97.5])))
    point = micro_macro_f1(y, pred)[1]
    assert ci["macro_f1"][0] <= point <= ci["macro_f1"][1]


def test_perfect_predictions_have_a_degenerate_interval():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    assert bootstrap_f1(y, y, n_boot=20)["micro_f1"] == (1.0, 1.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        evaluate_predictions(Y, P[:, :1], T[:1], ["a", "b"])


def test_flatten_names_per_tag_metrics_and_drops_nan():
    flat = flatten_metrics({"macro_f1": 0.5, "per_tag": {"denial": {"f1": 0.1, "pr_auc": math.nan}}}, "test_")
    assert flat == {"test_macro_f1": 0.5, "test_f1_denial": 0.1}
