import json
from datetime import datetime, timezone

import pytest

from labeling.studio.export import ExportError
from labeling.studio.pull import read_export_file, take_snapshot
from labeling.studio.snapshot import ANNOTATIONS, LABELED, list_snapshots, read_rows
from tests.helpers import TAGS
from tests.studio.helpers import ann, export_task

T1 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
T2 = datetime(2024, 5, 2, 12, 0, 0, tzinfo=timezone.utc)


def _export(second_label="denial"):
    return [export_task(1, "s-1", [ann(1, 1, "escalation"), ann(2, 2, "escalation")]),
            export_task(2, "s-2", [ann(3, 1, second_label)])]


def test_snapshot_holds_raw_export_rows_and_summary(tmp_path):
    out = take_snapshot(_export(), TAGS, tmp_path, {"source": "test"}, now=T1)
    assert out.written and out.snapshot.name == "20240501T120000Z"
    assert json.loads((out.snapshot / "export.json").read_text()) == _export()
    assert [r["labels"] for r in read_rows(out.snapshot, LABELED)] == [["escalation"], ["denial"]]
    assert len(read_rows(out.snapshot, ANNOTATIONS)) == 3
    summary = json.loads((out.snapshot / "summary.json").read_text())
    assert summary["counts"]["labeled"] == 2 and summary["tags"] == TAGS and summary["previous"] is None


def test_identical_pull_writes_no_new_snapshot(tmp_path):
    first = take_snapshot(_export(), TAGS, tmp_path, {}, now=T1)
    again = take_snapshot(_export(), TAGS, tmp_path, {}, now=T2)
    assert not again.written and again.snapshot == first.snapshot and len(list_snapshots(tmp_path)) == 1


def test_diff_lists_added_and_relabeled_sentences(tmp_path):
    take_snapshot(_export()[:1], TAGS, tmp_path, {}, now=T1)
    out = take_snapshot(_export("accusation"), TAGS, tmp_path, {}, now=T2)
    assert out.diff == {"added": ["s-2"], "removed": [], "changed": []}
    later = take_snapshot(_export("denial"), TAGS, tmp_path, {}, now=datetime(2024, 5, 3, tzinfo=timezone.utc))
    assert later.diff["changed"] == [("s-2", ["accusation"], ["denial"])]
    assert later.previous == out.snapshot


def test_bad_export_writes_nothing(tmp_path):
    bad = _export() + [export_task(3, "s-3", [ann(4, 1, "threat")])]
    with pytest.raises(ExportError, match=r"src.json: task 3 \(s-3\): tag 'threat'"):
        take_snapshot(bad, TAGS, tmp_path / "ann", {"source": "src.json"}, now=T1)
    assert not (tmp_path / "ann").exists()


def test_export_file_errors_name_the_file(tmp_path):
    path = tmp_path / "export.json"
    path.write_text("{not json")
    with pytest.raises(ExportError, match=r"export.json: not valid JSON"):
        read_export_file(path)
    path.write_text('{"a": 1}')
    with pytest.raises(ExportError, match="expected a JSON list of tasks"):
        read_export_file(path)


def test_snapshot_files_are_readable_by_colleagues_under_a_022_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = take_snapshot(_export(), TAGS, tmp_path, {"source": "test"}, now=T1)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.snapshot.iterdir()}
    assert set(modes) == {"export.json", "labeled.jsonl", "annotations.jsonl", "adjudication.jsonl", "summary.json"}
    assert modes == dict.fromkeys(modes, 0o644) and stat.S_IMODE(out.snapshot.stat().st_mode) == 0o755
