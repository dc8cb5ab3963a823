"""Run comparison rows and the HTML report, from run dicts shaped like tracking.search_runs."""
from __future__ import annotations

import math

from training.runs import compare_rows, html_report

TAGS = ["escalation", "denial"]


def _run(run_id, metrics, tags, name="r"):
    return {"run_id": run_id, "name": name, "status": "FINISHED", "start_time": 0,
            "params": {}, "metrics": metrics, "tags": tags}


def test_trained_and_cv_runs_become_comparable_rows():
    runs = [
        _run("a" * 32, {"test_macro_f1": 0.6, "test_macro_f1_low": 0.5, "test_macro_f1_high": 0.7,
                        "test_f1_escalation": 0.8, "train_seconds": 3.0},
             {"model_kind": "baseline", "data.fingerprint": "fp1", "registered_model": "stance-baseline/2"}),
        _run("b" * 32, {"cv_mean_macro_f1": 0.5, "cv_std_macro_f1": 0.1, "cv_mean_f1_denial": 0.2},
             {"model_kind": "finetune", "cv": "3"}),
    ]
    trained, cv = compare_rows(runs, TAGS)
    assert (trained["model"], trained["data"], trained["registered"]) == ("baseline", "fp1", "stance-baseline/2")
    assert (trained["macro_f1"], trained["macro_f1_low"], trained["f1_escalation"]) == (0.6, 0.5, 0.8)
    assert math.isnan(trained["f1_denial"])
    assert cv["model"] == "finetune (3-fold)"
    assert (cv["macro_f1_low"], cv["macro_f1_high"]) == (0.4, 0.6)


def test_report_embeds_table_and_plot():
    rows = compare_rows([_run("c" * 32, {"test_macro_f1": 0.6, "test_f1_denial": 0.3},
                              {"model_kind": "baseline"}, name="<first>")], TAGS)
    page = html_report(rows, TAGS)
    assert "&lt;first&gt;" in page  # run names are escaped
    assert 'src="data:image/png;base64,' in page
    assert "<td>0.300</td>" in page


FOUR = ["escalation", "de-escalation", "accusation", "denial"]


def _trained(i, champion=False):
    metrics = {"val_macro_f1": 0.81, "test_macro_f1": 0.8, "test_macro_f1_low": 0.77, "test_macro_f1_high": 0.83,
               "train_seconds": 512.0, **{f"test_f1_{t}": 0.7 + i / 100 for t in FOUR}}
    tags = {"model_kind": "finetune", "data.fingerprint": "3f9a1c0d2e4b5a69",
            "registered_model": f"stance-finetune/{i}"}
    return _run(f"{i:032x}", metrics, tags, name=f"finetune-3f9a1c-20261203-08{i:02d}")


def test_compare_fits_80_columns_and_keeps_what_a_comparison_needs():
    from training.runs import compare_layout

    rows = compare_rows([_trained(i) for i in range(1, 4)], FOUR, aliases={"stance-finetune/2": ["champion"]})
    headers, cells = compare_layout(rows, FOUR, 80)
    assert headers[:4] == ["run", "model", "val F1", "test macro-F1"]
    assert {"esc", "de-esc", "acc", "den"} <= set(headers)
    gap = 2
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    assert sum(widths) + gap * (len(headers) - 1) + 2 <= 80
    assert cells[1][1] == "finetune v2 ★" and cells[0][1] == "finetune v1"
    assert cells[0][3] == "0.800 [.77,.83]"
    wide, _ = compare_layout(rows, FOUR, 160)
    assert {"status", "data", "started", "train s"} <= set(wide) and len(wide) > len(headers)


def test_compare_falls_back_to_one_block_per_run_when_too_narrow():
    from training.runs import compare_layout, compare_vertical

    rows = compare_rows([_trained(1)], FOUR, aliases={"stance-finetune/1": ["champion"]})
    assert compare_layout(rows, FOUR, 30) is None
    lines = compare_vertical(rows, FOUR)
    assert lines[0].startswith("00000000") and "★" in lines[0]
    assert "val macro-F1 0.810" in lines[1] and "de-esc 0.710" in lines[2]


def test_epoch_curves_put_loss_scores_and_seconds_on_separate_axes():
    from training.plots import epoch_curves

    fig = epoch_curves([{"epoch": e, "train_loss": 0.5 / e, "val_macro_f1": 0.6 + e / 20, "epoch_seconds": 30.0 + e}
                        for e in (1, 2, 3)])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "score", "seconds"]
    score = fig.axes[1]
    assert [line.get_label() for line in score.get_lines()] == ["val_macro_f1"]


def test_runs_plot_has_error_bars_a_tight_axis_the_champion_and_a_dev_panel():
    from training.plots import f1_across_runs

    runs = [{"label": "a", "f1": {t: 0.80 for t in FOUR}, "low": {t: 0.76 for t in FOUR}, "high": {t: 0.84 for t in FOUR},
             "champion": True, "evals": {"dev": (0.7, 0.66, 0.74)}},
            {"label": "b", "f1": {t: 0.82 for t in FOUR}, "low": {t: 0.79 for t in FOUR}, "high": {t: 0.85 for t in FOUR}}]
    fig = f1_across_runs(runs, FOUR)
    tags_ax, dev_ax = fig.axes
    low, high = tags_ax.get_ylim()
    assert 0.5 < low < 0.76 and 0.85 <= high <= 1.0  # a 0.02 difference is visible
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a (champion)", "b"]
    assert tags_ax.get_legend() is None  # the legend sits below, not on the bars
    assert len(tags_ax.containers) == 4  # two bar groups, each with its error bars
    assert dev_ax.get_title() == "other labeled files"
