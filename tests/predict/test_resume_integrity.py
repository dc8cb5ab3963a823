"""`stance predict --resume` never mixes stale rows or two models: every input already scored is
checked by its content, and the model by its content, not its path."""
from __future__ import annotations

import os
import shutil

import pytest

from labeling.ingest.pipeline import IngestOptions
from tests.helpers import CountingScorer, cli_invoker, labeled_rows, make_rows, read_jsonl, train_tiny_baseline, write_jsonl
from training.cli.predict_cmd import model_identity
from training.predict.engine import PredictOptions, article_source, predict, sentence_source
from training.predict.output import ResumeError, partial_dir
from training.registry import load_model
from training.scoring import load_scorer

stance = cli_invoker()

ARTICLES = {
    "a.txt": "Talks\n\nBoth sides agreed to restore dialogue and hold talks next month. The ministers signed a ceasefire.\n",
    "b.txt": "Denial\n\nThe Kremlin denied the reports as baseless. Officials denied any responsibility for the attack.\n",
    "c.txt": "Threats\n\nThe army threatened to strike the border towns. Officials warned that troops were massing.\n",
    "d.txt": "Blame\n\nThe foreign ministry accused its neighbour of violating the treaty. He blamed the alliance.\n",
}


def _folder(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _articles_run(folder, scorer, out, **kwargs):
    return predict(article_source([folder], IngestOptions()), scorer, "test-model", out, batch_size=1, workers=1, **kwargs)


def _interrupt(folder, scorer, out, calls=2):
    with pytest.raises(RuntimeError, match="simulated crash"):
        _articles_run(folder, CountingScorer(scorer, fail_after_calls=calls), out)
    assert partial_dir(out).exists()


def test_resume_refuses_an_article_edited_before_the_resume_point_naming_it(tmp_path, baseline_dir):
    scorer = load_scorer(baseline_dir)
    folder, out = _folder(tmp_path), tmp_path / "out.jsonl"
    _interrupt(folder, scorer, out, calls=3)  # a, b, c done; the resume point is c
    (folder / "a.txt").write_text("Edited\n\nThe meeting took place in Stockholm on Tuesday.\n", encoding="utf-8")
    with pytest.raises(ResumeError, match=r"a\.txt: changed since the interrupted run scored it"):
        _articles_run(folder, scorer, out, resume=True)
    assert not out.exists()
    # refused before anything was scored or committed: the partial output is intact for a fresh run
    report = _articles_run(folder, scorer, out)
    texts = [r["text"] for r in read_jsonl(out)]
    assert "The meeting took place in Stockholm on Tuesday." in texts
    assert not any("ceasefire" in t for t in texts) and report.resumed_sentences == 0


def test_resume_names_a_file_added_among_the_scored_ones_and_scores_later_edits(tmp_path, baseline_dir):
    scorer = load_scorer(baseline_dir)
    folder, out = _folder(tmp_path), tmp_path / "out.jsonl"
    _interrupt(folder, scorer, out, calls=2)  # a, b done
    (folder / "d.txt").write_text("New\n\nReporters gathered outside the building in the morning.\n", encoding="utf-8")
    report = _articles_run(folder, scorer, out, resume=True)  # d was not scored yet: its new text is scored
    assert report.resumed_sentences > 0
    texts = [r["text"] for r in read_jsonl(out)]
    assert "Reporters gathered outside the building in the morning." in texts
    assert not any("accused its neighbour" in t for t in texts)

    _interrupt(folder, scorer, out, calls=2)
    (folder / "aa.txt").write_text("Inserted\n\nThe weather was mild.\n", encoding="utf-8")
    with pytest.raises(ResumeError, match=r"aa\.txt is where .*b\.txt was scored"):
        _articles_run(folder, scorer, out, resume=True)


def test_resume_refuses_a_sentence_record_edited_anywhere_before_the_resume_point(tmp_path, baseline_dir):
    scorer = load_scorer(baseline_dir)
    rows = [{"id": f"r{i}", "text": labeled_rows()[i]["text"], "article_id": "a1"} for i in range(16)]
    src, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    def run(scorer, **kwargs):
        return predict(sentence_source([src], PredictOptions()), scorer, "m", out, batch_size=4, workers=1, **kwargs)

    with pytest.raises(RuntimeError):
        run(CountingScorer(scorer, fail_after_calls=2))  # rows 1-8 done
    rows[2]["article_id"] = "a2"  # not the id, not the text: a field that reaches the output all the same
    write_jsonl(src, rows)
    with pytest.raises(ResumeError, match=r"in\.jsonl:3: changed since the interrupted run"):
        run(scorer, resume=True)


def _partial_with(model_dir, src, out):
    """The partial output a run killed after two chunks leaves, made with the model at `model_dir`."""
    loaded = load_model(str(model_dir))
    with pytest.raises(RuntimeError):
        predict(sentence_source([src], PredictOptions()), CountingScorer(loaded.scorer, fail_after_calls=2),
                model_identity(loaded), out, batch_size=4, workers=1)


def test_resume_accepts_the_same_model_folder_given_as_a_relative_path(tmp_path, baseline_dir, monkeypatch):
    model = tmp_path / "models" / "m"
    shutil.copytree(baseline_dir, model)
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(labeled_rows()[:16])])
    out = tmp_path / "out.jsonl"
    _partial_with(model.resolve(), src, out)
    monkeypatch.chdir(tmp_path)
    result = stance("predict", "in.jsonl", "--sentences", "--model", os.path.join("models", "m"), "--out", "out.jsonl",
                    "--batch-size", "4", "--workers", "1", "--resume")
    assert result.exit_code == 0, result.output
    assert "8 sentences already scored" in " ".join(result.output.split())
    assert [r["sentence_id"] for r in read_jsonl(out)] == [f"r{i}" for i in range(16)]


def test_resume_refuses_another_model_put_in_place_at_the_same_path(tmp_path, baseline_dir):
    model = tmp_path / "models" / "m"
    shutil.copytree(baseline_dir, model)
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(labeled_rows()[:16])])
    out = tmp_path / "out.jsonl"
    _partial_with(model, src, out)
    rows = make_rows(80)
    shutil.rmtree(model)
    train_tiny_baseline(rows[:60], rows[60:], model)  # the same tags, other weights, the same path
    result = stance("predict", str(src), "--sentences", "--model", str(model), "--out", str(out),
                    "--batch-size", "4", "--workers", "1", "--resume")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "made with model 'content sha256:" in message and "replaced at the same path is another model" in message
    assert not out.exists() and partial_dir(out).exists()
