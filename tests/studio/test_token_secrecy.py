"""The API key is never printed or written (issue 11, item 8): it is stripped and checked where
it is read, and what a failing `stance label` command prints and writes is searched for it.

The commands run as the user runs them (a `stance` process, its own working folder, HOME,
TMPDIR and MLflow store inside the test folder), so every file they could write is searched.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labeling.studio.server import LOG_FILE, free_port
from labeling.studio.settings import CREDENTIALS_FILE, StudioConfig, clean_api_key, resolve_connection
from tests.studio.helpers import sentence, write_sentences

STANCE = Path(sys.executable).parent / "stance"
FAKE = "fake7e57" * 5  # 40 characters, like a legacy token


def run_label(command: str, url: str, key: str, work: Path) -> tuple[subprocess.CompletedProcess, list[Path]]:
    """Run `stance label push|pull` with everything it may write under `work` (created; the project
    is named after its parent, the test's folder); return the process and the files under `work`
    that hold FAKE."""
    work.mkdir()
    cfg = work / "studio.yaml"
    cfg.write_text(f"retries: 0\nretry_backoff_s: 0\nannotations_dir: {work / 'ann'}\n"
                   f"server_data_dir: {work / 'ls'}\nproject_title: Secrecy {work.parent.name}\n")
    args = ["push", str(write_sentences(work / "s.jsonl", [sentence(0)]))] if command == "push" else ["pull"]
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=key, HOME=str(work), TMPDIR=str(work),
               MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    proc = subprocess.run([str(STANCE), "label", *args, "--config", str(cfg)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc, [p for p in work.rglob("*") if p.is_file() and FAKE.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["push", "pull"])
def test_key_with_trailing_crlf_is_never_printed_or_written_when_the_port_is_closed(tmp_path, command):
    url = f"http://127.0.0.1:{free_port()}"
    proc, leaks = run_label(command, url, FAKE + "\r\n", tmp_path / "work")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and f"cannot reach Label Studio at {url}" in out, out
    assert FAKE not in out and leaks == [] and "Traceback" not in out


@pytest.mark.slow
@pytest.mark.studio
@pytest.mark.parametrize("command", ["push", "pull"])
def test_key_with_trailing_crlf_is_stripped_and_never_printed_or_written_by_a_real_server(
        studio_server, tmp_path, command):
    proc, leaks = run_label(command, studio_server.url, FAKE + "\r\n", tmp_path / "work")
    out = proc.stdout + proc.stderr
    # the stripped key reaches the server, which rejects it: not "cannot reach" [was: an HTTP header
    # error quoting "Token <key>\r\n", reported as a server that cannot be reached]
    assert proc.returncode == 1 and "rejected the API key" in out and "cannot reach" not in out, out
    assert FAKE not in out and leaks == [] and "Traceback" not in out
    assert FAKE not in (studio_server.data_dir / LOG_FILE).read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.studio
def test_the_real_key_with_a_trailing_newline_works_and_stays_out_of_the_snapshot(studio_server, tmp_path):
    key = studio_server.api_key + " \r\n"
    pushed, _ = run_label("push", studio_server.url, key, tmp_path / "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    pulled, _ = run_label("pull", studio_server.url, key, tmp_path / "pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    for out in (pushed.stdout + pushed.stderr, pulled.stdout + pulled.stderr):
        assert studio_server.api_key not in out
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "summary.json" for p in written)  # a snapshot was written, and searched
    assert [p for p in written if studio_server.api_key.encode() in p.read_bytes()] == []


@pytest.mark.parametrize("raw", [FAKE + "\r\n", FAKE + "\n", " " + FAKE + " ", "\t" + FAKE + "\r"])
def test_the_key_is_stripped_where_it_is_read(raw):
    assert clean_api_key(raw, "LABEL_STUDIO_API_KEY") == FAKE
    conn = resolve_connection(StudioConfig(), {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": raw})
    assert conn.api_key == FAKE and FAKE not in repr(conn)


@pytest.mark.parametrize("raw", [FAKE[:20] + " " + FAKE[20:], FAKE[:20] + "\r\n" + FAKE[20:], FAKE + "\u00e9"])
def test_a_key_with_spaces_or_control_characters_inside_is_refused_without_quoting_it(raw):
    with pytest.raises(ValueError, match="the API key in LABEL_STUDIO_API_KEY holds spaces") as err:
        resolve_connection(StudioConfig(), {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": raw})
    assert FAKE[:20] not in str(err.value) and FAKE[20:] not in str(err.value)


def test_a_key_from_the_credentials_file_is_stripped_and_a_bad_one_is_named_by_file(tmp_path):
    url = "http://127.0.0.1:9"
    cfg = StudioConfig(url=url, server_data_dir=str(tmp_path))
    (tmp_path / CREDENTIALS_FILE).write_text(json.dumps({"url": url, "api_key": FAKE + "\n"}))
    assert resolve_connection(cfg, {}).api_key == FAKE
    (tmp_path / CREDENTIALS_FILE).write_text(json.dumps({"url": url, "api_key": "fake key"}))
    with pytest.raises(ValueError, match=f"the API key in {tmp_path / CREDENTIALS_FILE} holds spaces") as err:
        resolve_connection(cfg, {})
    assert "fake key" not in str(err.value)


def test_a_blank_environment_key_falls_back_to_the_credentials_file(tmp_path):
    url = "http://127.0.0.1:9"
    (tmp_path / CREDENTIALS_FILE).write_text(json.dumps({"url": url, "api_key": FAKE}))
    conn = resolve_connection(StudioConfig(url=url, server_data_dir=str(tmp_path)), {"LABEL_STUDIO_API_KEY": " \n"})
    assert conn.api_key == FAKE
