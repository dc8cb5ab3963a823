"""`push --model` with a real trained baseline: predictions and uncertainty sampling in a real server."""
from __future__ import annotations

import uuid

import pytest

from labeling.studio.client import StudioClient
from labeling.studio.tasks import prediction_score
from tests.helpers import cli_invoker
from tests.studio.helpers import TEXTS, sentence, tiny_model, write_sentences

pytestmark = [pytest.mark.studio, pytest.mark.slow]

@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "stance-baseline")


def test_push_with_model_adds_scored_predictions_and_samples_uncertain(studio_server, baseline_dir, tmp_path):
    from training.scoring import load_scorer

    title = f"Model {uuid.uuid4().hex[:6]}"
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"project_title: {title}\nserver_data_dir: {tmp_path / 'nowhere'}\n")
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": studio_server.api_key}
    records = [sentence(i) for i in range(len(TEXTS))]
    src = write_sentences(tmp_path / "s.jsonl", records)
    res = cli_invoker("label", env=env)("push", src, "--model", baseline_dir, "--next", "2",
                                        "--strategy", "uncertainty", "--config", cfg)
    assert res.exit_code == 0, res.output

    scorer = load_scorer(baseline_dir)
    probs = scorer.predict_proba([r["text"] for r in records])
    thresholds = dict(zip(scorer.tags, map(float, scorer.thresholds)))
    scores = {r["sentence_id"]: prediction_score(dict(zip(scorer.tags, map(float, p))), thresholds)
              for r, p in zip(records, probs)}
    expected = sorted(scores, key=lambda sid: (scores[sid], [r["sentence_id"] for r in records].index(sid)))[:2]

    client = StudioClient(studio_server.connection)
    tasks = client.tasks(client.find_project(title)["id"])
    assert sorted(t["data"]["sentence_id"] for t in tasks) == sorted(expected)
    for task in tasks:
        (pred,) = task["predictions"]
        assert pred["model_version"].startswith("stance-baseline ")  # the folder name and its fingerprint
        assert pred["score"] == pytest.approx(scores[task["data"]["sentence_id"]], abs=1e-6)
