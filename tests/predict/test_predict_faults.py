"""`stance predict` on hostile data and broken surroundings: markup and formulas in sentences,
damaged model folders, outputs that cannot be written, a busy output. Each ends in complete
output and a report, or in one error line before any work."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import cli_invoker, labeled_rows, read_jsonl, read_only_dir, tiny_onnx_model_dir, write_jsonl
from training.predict.output import output_lock, partial_dir

stance = cli_invoker()


def _flat(output: str) -> str:
    return " ".join(output.replace("│", " ").split())  # table cells read as one line


def _records(n: int) -> list[dict]:
    rows = labeled_rows()
    return [{"id": f"r{i:05d}", "text": rows[i % len(rows)]["text"]} for i in range(n)]


def _one_error_line(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, result.output
    for part in parts:
        assert part in result.output, result.output


def test_markup_in_sentences_and_file_names_prints_as_text(tmp_path, monkeypatch, baseline_dir):
    monkeypatch.chdir(tmp_path)  # short relative paths: table cells do not fold them
    Path("in[").mkdir()
    Path("in[/b].txt").write_text("Border [/b] tension\n\nThe army [/b] threatened to strike the border towns "
                                  "within days. The Kremlin denied the reports [bold] as baseless.\n", encoding="utf-8")
    Path("in[/c].txt").write_bytes(b"\x00\x01\x02 binary")
    result = stance("predict", "in[", "--model", baseline_dir, "--out", "out[/b].jsonl", "--summary", "s[/b].csv")
    assert result.exit_code == 1, result.output  # one input failed; no MarkupError after the output is written
    flat = _flat(result.output)
    assert "MarkupError" not in flat and "Traceback" not in flat
    assert "in[/c].txt: binary file" in flat and "out[/b].jsonl" in flat and "s[/b].csv" in flat
    assert "articles: 1" in flat  # the last line of the report is there
    assert any("[/b]" in r["text"] for r in read_jsonl(Path("out[/b].jsonl")))


def test_csv_outputs_escape_cells_a_spreadsheet_would_run_as_formulas(tmp_path, baseline_dir):
    texts = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1 troops crossed the border.", "-2 dead, officials said.",
             "@SUM(A1:A9) was the code.", "\tTabbed talks resumed.", "The Kremlin denied the reports as baseless."]
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"={i}", "article_id": "a-1", "text": t} for i, t in enumerate(texts)])
    out, summary = tmp_path / "out.csv", tmp_path / "summary.csv"
    result = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out, "--summary", summary)
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == ["'" + t for t in texts[:5]] + [texts[5]]
    assert all(r["sentence_id"].startswith("'=") for r in rows)
    assert all(0.0 <= float(r["denial"]) <= 1.0 for r in rows)  # numbers stay numbers
    with open(summary, encoding="utf-8", newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    jsonl = tmp_path / "out.jsonl"  # JSONL is data, not a sheet: kept as is
    assert stance("predict", src, "--sentences", "--model", baseline_dir, "--out", jsonl).exit_code == 0
    assert [r["text"] for r in read_jsonl(jsonl)] == texts


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_damaged_onnx_file_is_one_error_line_naming_it(tmp_path, damage):
    model = tiny_onnx_model_dir(tmp_path / "model")
    graph = (model / "model.onnx").read_bytes()
    (model / "model.onnx").write_bytes(b"" if damage == "empty" else graph[: len(graph) // 2])
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    out = tmp_path / "out.jsonl"
    result = stance("predict", src, "--sentences", "--model", model, "--out", out)
    _one_error_line(result, "cannot load model", f"{model / 'model.onnx'}:", "empty file" if damage == "empty" else "truncated")
    assert not out.exists() and not partial_dir(out).exists()


def test_tiny_onnx_model_scores_through_the_cli(tmp_path):
    # the undamaged twin of the test above: the same folder loads and scores
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    out = tmp_path / "out.jsonl"
    result = stance("predict", src, "--sentences", "--model", tiny_onnx_model_dir(tmp_path / "model"), "--out", out)
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(out)) == 3


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_damaged_baseline_pipeline_is_one_error_line_naming_it(tmp_path, baseline_dir, damage):
    model = Path(shutil.copytree(baseline_dir, tmp_path / "model"))
    pipeline = (model / "pipeline.joblib").read_bytes()
    (model / "pipeline.joblib").write_bytes(b"" if damage == "empty" else pipeline[: len(pipeline) // 2])
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    result = stance("predict", src, "--sentences", "--model", model, "--out", tmp_path / "out.jsonl")
    _one_error_line(result, "cannot load model", f"{model / 'pipeline.joblib'}:",
                    "empty file" if damage == "empty" else "truncated")


def test_damaged_meta_json_names_the_file_and_line(tmp_path, baseline_dir):
    model = Path(shutil.copytree(baseline_dir, tmp_path / "model"))
    (model / "meta.json").write_text('{"kind": "baseline", "tags": [', encoding="utf-8")
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    result = stance("predict", src, "--sentences", "--model", model, "--out", tmp_path / "out.jsonl")
    _one_error_line(result, f"{model / 'meta.json'}: not valid JSON", "line 1")


@pytest.mark.parametrize("which", ["--out", "--summary", "--errors"])
def test_output_in_a_read_only_folder_is_refused_before_any_work(tmp_path, baseline_dir, which):
    src = write_jsonl(tmp_path / "in.jsonl", _records(5) + ['{"id": "broken"'])
    paths = {"--out": tmp_path / "out.jsonl", "--summary": tmp_path / "summary.jsonl", "--errors": tmp_path / "errors.jsonl"}
    with read_only_dir(tmp_path / "ro") as ro:
        paths[which] = ro / f"x{paths[which].suffix}"
        args = [a for flag, path in paths.items() for a in (flag, path)]
        result = stance("predict", src, "--sentences", "--model", baseline_dir, *args)
        left = list(ro.iterdir())
    _one_error_line(result, f"cannot write {paths[which]}", "does not accept new files")
    assert "Traceback" not in result.output and left == []
    for path in paths.values():  # nothing written, no partial folder left anywhere
        assert not path.exists() and not partial_dir(path).exists()


def test_busy_output_is_refused_before_the_model_is_loaded(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    out = tmp_path / "out.jsonl"
    # A model that cannot load: the busy output must be the error, so nothing was loaded first.
    with output_lock(out):  # this process plays the run in progress
        result = stance("predict", src, "--sentences", "--model", tmp_path / "no-model", "--out", out)
    _one_error_line(result, "is writing this output")
    assert "cannot load model" not in result.output
    assert not out.exists() and not partial_dir(out).exists()


def test_nul_bytes_in_sentence_records_are_scored_not_a_worker_crash(tmp_path, baseline_dir):
    src = tmp_path / "in.csv"
    src.write_bytes(b'id,text\nr1,"The army\x00 threatened to strike the border towns."\nr2,"Talks resumed."\n')
    out = tmp_path / "out.jsonl"
    result = stance("predict", src, "--sentences", "--model", baseline_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(out)) == 2


def _meta(model: Path, change) -> Path:
    meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))
    change(meta)
    (model / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return model


def _add_tag(meta: dict) -> None:
    meta["tags"].append("threat")
    meta["thresholds"]["threat"] = 0.5


@pytest.mark.parametrize("workers", ["1", "2"])
def test_baseline_whose_meta_lists_other_tags_than_its_pipeline_is_one_error_line(tmp_path, baseline_dir, workers):
    model = _meta(Path(shutil.copytree(baseline_dir, tmp_path / "model")), _add_tag)
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    result = stance("predict", src, "--sentences", "--model", model, "--out", tmp_path / "o.jsonl", "--workers", workers)
    _one_error_line(result, f"{model / 'pipeline.joblib'}: the pipeline scores 4 tags but meta.json lists 5")


def test_onnx_graph_that_scores_other_tags_than_meta_lists_is_one_error_line(tmp_path):
    model = _meta(tiny_onnx_model_dir(tmp_path / "model"), _add_tag)
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    result = stance("predict", src, "--sentences", "--model", model, "--out", tmp_path / "o.jsonl")
    _one_error_line(result, f"{model / 'model.onnx'}: the graph scores 4 tags but meta.json lists 5")


def test_meta_json_without_a_threshold_for_a_tag_names_it(tmp_path, baseline_dir):
    model = _meta(Path(shutil.copytree(baseline_dir, tmp_path / "model")), lambda m: m["thresholds"].pop("denial"))
    src = write_jsonl(tmp_path / "in.jsonl", _records(3))
    result = stance("predict", src, "--sentences", "--model", model, "--out", tmp_path / "o.jsonl")
    _one_error_line(result, f"{model / 'meta.json'}: 'thresholds' has no number for denial")
