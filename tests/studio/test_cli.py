import json

import pytest

from labeling.studio.server import free_port
from tests.helpers import cli_invoker
from tests.studio.helpers import ann, export_task, sentence, tiny_model, write_sentences


@pytest.fixture
def cli():
    return cli_invoker("label")


@pytest.fixture
def studio_yaml(tmp_path):
    path = tmp_path / "studio.yaml"
    path.write_text(f"retries: 0\nretry_backoff_s: 0\nannotations_dir: {tmp_path / 'ann'}\n"
                    f"server_data_dir: {tmp_path / 'ls'}\n")
    return path


def test_config_prints_the_generated_xml(cli):
    res = cli("config")
    assert res.exit_code == 0 and '<Choices name="stance"' in res.output and 'hotkey="4"' in res.output


def test_push_to_file_writes_one_task_per_group(cli, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(0), sentence(1, group=0, article=2), sentence(2),
                                                 sentence(3, for_labeling=False)])
    res = cli("push", src, "--to-file", tmp_path / "import.json")
    assert res.exit_code == 0, res.output
    tasks = json.loads((tmp_path / "import.json").read_text())
    assert [t["data"]["sentence_id"] for t in tasks] == [sentence(0)["sentence_id"], sentence(2)["sentence_id"]]
    assert tasks[0]["data"]["group_members"] == [sentence(1)["sentence_id"]]


def test_push_to_file_next_random_limits_tasks(cli, tmp_path):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(8)])
    assert cli("push", src, "--to-file", tmp_path / "i.json", "--next", 3).exit_code == 0
    assert len(json.loads((tmp_path / "i.json").read_text())) == 3


@pytest.mark.parametrize("strategy", ["uncertainty", "uncertainty+diversity"])
def test_push_uncertainty_without_model_fails_clearly(cli, tmp_path, strategy):
    src = write_sentences(tmp_path / "s.jsonl", [sentence(0)])
    res = cli("push", src, "--to-file", tmp_path / "i.json", "--next", 1, "--strategy", strategy)
    assert res.exit_code == 1 and f"--strategy {strategy} needs --model" in res.output
    assert not (tmp_path / "i.json").exists()


def test_push_bad_line_names_file_and_line(cli, tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps(sentence(0)) + "\n{oops\n")
    res = cli("push", src, "--to-file", tmp_path / "i.json")
    assert res.exit_code == 1 and "s.jsonl:2: malformed JSON" in res.output and "Traceback" not in res.output


def test_pull_from_file_then_agreement(cli, tmp_path, studio_yaml):
    export = [export_task(1, "s-1", [ann(1, 1, "escalation"), ann(2, 2, "escalation")]),
              export_task(2, "s-2", [ann(3, 1, "escalation"), ann(4, 2)])]
    (tmp_path / "export.json").write_text(json.dumps(export))
    res = cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml)
    assert res.exit_code == 0, res.output
    assert "for adjudication" in res.output and "s-2" in res.output
    snap = next((tmp_path / "ann").iterdir())
    res = cli("agreement", snap, "--config", studio_yaml)
    assert res.exit_code == 0, res.output
    assert "overall" in res.output and (snap / "agreement.png").exists()
    assert json.loads((snap / "agreement.json").read_text())["items"] == {"user-1": 2, "user-2": 2}


def test_pull_with_unknown_tag_writes_nothing(cli, tmp_path, studio_yaml):
    (tmp_path / "export.json").write_text(json.dumps([export_task(7, "s-1", [ann(1, 1, "threat")])]))
    res = cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml)
    assert res.exit_code == 2 and "task 7 (s-1): tag 'threat'" in res.output
    assert not (tmp_path / "ann").exists()


def test_pull_of_an_export_with_a_result_of_the_wrong_type_is_one_error_line(cli, tmp_path, studio_yaml):
    task = export_task(7, "s-1", [ann(1, 1, "denial")])
    task["annotations"][0]["result"] = {"choices": ["denial"]}  # an object where Label Studio writes a list
    (tmp_path / "export.json").write_text(json.dumps([export_task(6, "s-0", []), task]))
    res = cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "AttributeError" not in res.output
    assert res.output.startswith("error: ") and len(res.output.strip().splitlines()) == 1
    assert "export.json: task 7 (s-1): field 'annotations[0].result' should be a list, got dict" in res.output
    assert not (tmp_path / "ann").exists()


def test_pull_of_a_non_utf8_export_names_the_file(cli, tmp_path, studio_yaml):
    export = [export_task(7, "s-1", [], text="Caf\u00e9 talks resumed.")]
    (tmp_path / "export.json").write_bytes(json.dumps(export, ensure_ascii=False).encode("latin-1"))
    res = cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml)
    assert res.exit_code == 2, res.output
    assert "export.json: not UTF-8 (byte 0xe9" in res.output and "Traceback" not in res.output


def test_agreement_without_snapshot_says_so(cli, studio_yaml):
    res = cli("agreement", "--config", studio_yaml)
    assert res.exit_code == 1 and "no snapshot" in res.output


@pytest.mark.parametrize("command", ["push", "pull"])
def test_server_down_names_the_url_and_writes_nothing(cli, tmp_path, studio_yaml, command):
    url = f"http://127.0.0.1:{free_port()}"
    args = ["push", write_sentences(tmp_path / "s.jsonl", [sentence(0)])] if command == "push" else ["pull"]
    res = cli(*args, "--config", studio_yaml, env={"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": "k" * 40})
    assert res.exit_code == 1 and f"cannot reach Label Studio at {url}" in res.output
    assert "k" * 40 not in res.output and "Traceback" not in res.output
    assert not (tmp_path / "ann").exists()


def test_missing_api_key_is_explained(cli, tmp_path, studio_yaml):
    res = cli("pull", "--config", studio_yaml, env={"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": ""})
    assert res.exit_code == 1 and "no API key for Label Studio at http://127.0.0.1:9" in res.output


def test_pull_prints_ids_and_annotator_names_with_markup_as_text(cli, tmp_path, studio_yaml):
    votes = [ann(1, 1, "denial"), ann(2, 2)]
    votes[0]["completed_by"] = {"id": 1, "email": "[/b]@example.org"}
    (tmp_path / "export.json").write_text(json.dumps([export_task(1, "s-[/i]", votes)]))
    res = cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml)
    assert res.exit_code == 0, res.output
    assert "s-[/i]" in res.output and "[/b]@example.org" in res.output


def _strict_json(path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}: not valid JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_agreement_with_one_annotator_says_why_instead_of_nan(cli, tmp_path, studio_yaml):
    export = [export_task(1, "s-1", [ann(1, 1, "escalation")]), export_task(2, "s-2", [ann(2, 1)])]
    (tmp_path / "export.json").write_text(json.dumps(export))
    assert cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml).exit_code == 0
    snap = next((tmp_path / "ann").iterdir())
    res = cli("agreement", snap, "--config", studio_yaml)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "only one annotator (user-1)" in text and "stance label add-user" in text and "n/a" not in text
    assert not (snap / "agreement.png").exists()  # no heat-map of one person against themselves
    result = _strict_json(snap / "agreement.json")
    assert result["alpha"]["overall"] is None and "only one annotator" in result["too_few_annotators"]
    assert result["alpha_reasons"]["overall"] == "no sentence annotated by two people"


def test_agreement_json_is_valid_when_a_tag_is_never_ticked(cli, tmp_path, studio_yaml):
    export = [export_task(1, "s-1", [ann(1, 1, "escalation"), ann(2, 2, "escalation")]),
              export_task(2, "s-2", [ann(3, 1, "escalation"), ann(4, 2)])]
    (tmp_path / "export.json").write_text(json.dumps(export))
    assert cli("pull", "--from-file", tmp_path / "export.json", "--config", studio_yaml).exit_code == 0
    snap = next((tmp_path / "ann").iterdir())
    res = cli("agreement", snap, "--config", studio_yaml)
    assert res.exit_code == 0 and "n/a (every shared decision was the same" in " ".join(res.output.split())
    result = _strict_json(snap / "agreement.json")
    assert result["alpha"]["denial"] is None and "nobody ticked" in result["alpha_reasons"]["denial"]
    assert result["too_few_annotators"] is None and result["shared_items"] == 2


def test_push_to_file_with_a_model_writes_the_least_sure_first(cli, tmp_path):
    model = tiny_model(tmp_path / "stance-baseline")
    src = write_sentences(tmp_path / "s.jsonl", [sentence(i) for i in range(6)])
    res = cli("push", src, "--to-file", tmp_path / "import.json", "--model", model)
    assert res.exit_code == 0, res.output
    tasks = json.loads((tmp_path / "import.json").read_text())
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert len(tasks) == 6 and scores == sorted(scores) and all(0.5 <= s <= 1 for s in scores)
    assert tasks[0]["predictions"][0]["model_version"].startswith("stance-baseline ")
