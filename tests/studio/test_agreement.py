import math

import krippendorff
import numpy as np
import pytest

from labeling.studio.agreement import cohen_kappa, compute_agreement, nominal_alpha, write_heatmap
from tests.helpers import TAGS


def _rows(per_annotator: dict[str, list[list[str]]]) -> list[dict]:
    return [{"id": f"s-{i}", "annotator": a, "labels": labels}
            for a, items in per_annotator.items() for i, labels in enumerate(items)]


# alice: escalation on items 0 and 1; bob: escalation on item 0 only; no other tag anywhere.
TWO = {"alice": [["escalation"], ["escalation"], [], []], "bob": [["escalation"], [], [], []]}


def test_alpha_per_tag_matches_hand_computation():
    # Coincidences for escalation: o11=2, o10=o01=1, o00=4; n1=3, n0=5, n=8.
    # D_o = 2/8, D_e = 2*3*5/(8*7) = 30/56 -> alpha = 1 - (1/4)/(30/56) = 8/15.
    result = compute_agreement(_rows(TWO), TAGS)
    assert result.alpha["escalation"] == pytest.approx(8 / 15)
    assert math.isnan(result.alpha["denial"])  # only "no" was ever said: alpha undefined


def test_overall_alpha_pools_every_sentence_tag_decision():
    # 16 units, 2 disagreeing halves, n1=3, n0=29, n=32: alpha = 1 - (2/32)/(2*3*29/(32*31)) = 56/87.
    assert compute_agreement(_rows(TWO), TAGS).alpha["overall"] == pytest.approx(56 / 87)


def test_pairwise_kappa_matches_hand_computation():
    # pooled 16 decisions: po = 15/16, pa = 2/16, pb = 1/16, pe = 0.828125 -> kappa = 7/11
    result = compute_agreement(_rows(TWO), TAGS)
    value, shared = result.kappa[("alice", "bob")]
    assert value == pytest.approx(7 / 11) and shared == 4
    assert result.items == {"alice": 4, "bob": 4}


def test_kappa_only_uses_items_both_annotated():
    rows = _rows(TWO) + [{"id": "s-9", "annotator": "alice", "labels": ["denial"]}]
    result = compute_agreement(rows, TAGS)
    assert result.kappa[("alice", "bob")] == (pytest.approx(7 / 11), 4)
    assert result.alpha["escalation"] == pytest.approx(8 / 15)  # a single-coded item is not pairable
    assert result.items == {"alice": 5, "bob": 4}


def test_alpha_agrees_with_krippendorff_package_on_random_data():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, size=(3, 20)).astype(float)
    data[0, :3] = np.nan
    assert nominal_alpha(data) == pytest.approx(krippendorff.alpha(reliability_data=data,
                                                                   level_of_measurement="nominal"))


def test_kappa_perfect_and_undefined():
    assert cohen_kappa(np.array([1, 0, 1]), np.array([1, 0, 1])) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(np.array([0, 0]), np.array([0, 0])))


def test_no_annotations_is_an_error():
    with pytest.raises(ValueError, match="no annotations"):
        compute_agreement([], TAGS)


def test_heatmap_png_is_written(tmp_path):
    result = compute_agreement(_rows(TWO), TAGS)
    png = write_heatmap(result, tmp_path / "out" / "kappa.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
