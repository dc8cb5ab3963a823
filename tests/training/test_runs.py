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
