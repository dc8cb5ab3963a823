"""The local Label Studio is closed to other local users (issue 11, item 7): sign-up without the
invite link is refused, and the data directory is readable by its owner only.

A second local user is created for the module (`useradd`, so root only) and removed after it;
it acts through `setpriv`, with no capability left. The server runs from a data directory under
a folder every user may enter (pytest's own temporary root is private, which would hide the
data directory whatever its own mode), copied from a setup whose files were left readable by
everyone, as a server started before this fix left them.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from labeling.schema import load_schema
from labeling.studio.client import StudioClient
from labeling.studio.config_xml import build_label_config
from labeling.studio.server import LOG_FILE, STUDIO_BIN, start_server
from labeling.studio.settings import CREDENTIALS_FILE
from tests.helpers import cli_invoker
from tests.studio.helpers import migrated_template

pytestmark = [pytest.mark.studio, pytest.mark.slow]

DATABASE = "label_studio.sqlite3"

# Sign-up as a stranger would do it: the web form, with its CSRF cookie; prints the HTTP status
# of the form post and of the token request that follows (200 only when signed up and logged in).
SIGNUP = r"""
import http.cookiejar, sys, urllib.error, urllib.parse, urllib.request
url, email = sys.argv[1], sys.argv[2]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def status(req):
    try:
        return opener.open(req, timeout=60).status
    except urllib.error.HTTPError as exc:
        return exc.code
status(url + "/user/signup/")
csrf = next((c.value for c in jar if c.name == "csrftoken"), "")
form = urllib.parse.urlencode({"email": email, "password": "stranger-pass-123", "csrfmiddlewaretoken": csrf}).encode()
posted = status(urllib.request.Request(url + "/user/signup/", data=form, headers={"Referer": url + "/user/signup/"}))
print(posted, status(url + "/api/current-user/token"))
"""


@pytest.fixture(scope="module")
def stranger():
    """A second local user (pwd entry), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creating a second local user (useradd) needs root")
    name = f"stx{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=True)


def as_user(user, *cmd: str) -> subprocess.CompletedProcess:
    """Run `cmd` as `user` (uid, gid and groups switched: root's capabilities are gone)."""
    done = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *cmd],
                          capture_output=True, timeout=120, cwd="/")
    # bytes in, text out: a file read by mistake (the database) must fail the test, not the decoding
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


@pytest.fixture(scope="module")
def exposed():
    """(server, folder): a server whose data directory every local user could reach and read
    before it started; stopped and removed afterwards."""
    if not STUDIO_BIN.exists():
        pytest.fail(f"{STUDIO_BIN} missing: run `make studio-venv` (make test does)")
    base = Path(tempfile.mkdtemp(prefix="stance-shared-"))
    os.chmod(base, 0o755)
    data = base / "labelstudio"
    shutil.copytree(migrated_template(), data, ignore=shutil.ignore_patterns(LOG_FILE, "ready", "*.lock"))
    for root, dirs, files in os.walk(data):  # what an older setup left: readable by everyone
        for name in [".", *dirs]:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    server = start_server(data, timeout_s=300)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_a_second_local_user_cannot_sign_up(exposed, stranger):
    email = f"{stranger.pw_name}@example.org"
    res = as_user(stranger, "/usr/bin/python3", "-c", SIGNUP, exposed.url, email)
    assert res.returncode == 0, res.stderr
    posted, token = res.stdout.split()
    assert posted == "403" and token != "200"
    assert email not in StudioClient(exposed.connection).users().values()


def test_a_second_local_user_cannot_read_the_database_credentials_or_log(exposed, stranger):
    StudioClient(exposed.connection).create_project("written after start", build_label_config(load_schema()))
    data = exposed.data_dir
    for path in (data / DATABASE, data / CREDENTIALS_FILE, data / LOG_FILE):
        res = as_user(stranger, "cat", str(path))
        assert res.returncode != 0 and "Permission denied" in res.stderr, (path, res.stdout[:200])
    assert "Permission denied" in as_user(stranger, "ls", str(data)).stderr
    # the modes themselves, so that the folder is not the only lock: nothing for group or others
    opened = [p for p in [data, *data.rglob("*")] if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert opened == []
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / DATABASE).stat().st_mode) == 0o600
    assert stat.S_IMODE((data / CREDENTIALS_FILE).stat().st_mode) == 0o600


def test_an_annotator_added_with_label_add_user_can_log_in(exposed, tmp_path):
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"server_data_dir: {tmp_path / 'nowhere'}\n")
    env = {"LABEL_STUDIO_URL": exposed.url, "LABEL_STUDIO_API_KEY": exposed.api_key}
    email = f"ann-{uuid.uuid4().hex[:6]}@stance.local"
    res = cli_invoker("label", env=env)("add-user", email, "--config", cfg)
    assert res.exit_code == 0, res.output
    assert exposed.api_key not in res.output
    password = res.output.split("log in with password ")[1].split()[0]
    with httpx.Client(base_url=exposed.url, follow_redirects=True, timeout=60) as web:
        web.get("/user/login/")
        web.post("/user/login/", data={"email": email, "password": password,
                                       "csrfmiddlewaretoken": web.cookies.get("csrftoken", "")},
                 headers={"Referer": f"{exposed.url}/user/login/"})
        who = web.get("/api/current-user/whoami")
    assert who.status_code == 200 and who.json()["email"] == email
    again = cli_invoker("label", env=env)("add-user", email, "--config", cfg)
    assert again.exit_code == 1 and f"could not sign up {email}" in again.output
