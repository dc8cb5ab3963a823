"""Run plots: the PR-curve figure when a file has no positive sentence for any tag."""
from __future__ import annotations

import warnings

import numpy as np

from training.plots import pr_curves


def test_pr_curves_without_positives_say_so_instead_of_an_empty_legend():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns on a legend with no labelled lines
        fig = pr_curves(np.zeros((4, 2)), np.full((4, 2), 0.3), ["escalation", "denial"], np.array([0.5, 0.5]))
    ax = fig.axes[0]
    assert ax.get_legend() is None and not ax.get_lines()
    assert [t.get_text() for t in ax.texts] == ["no tag has a positive sentence here"]


def test_pr_curves_draw_one_labelled_curve_per_tag_with_positives():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    fig = pr_curves(y, np.array([[0.9, 0.1], [0.2, 0.3], [0.7, 0.2], [0.4, 0.1]]), ["escalation", "denial"],
                    np.array([0.5, 0.5]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["escalation"]
    assert len(ax.texts) == 0
