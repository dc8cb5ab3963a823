"""A real Label Studio for the integration and browser tests: started once per session
on a free loopback port with a temporary data directory, stopped at the end.

Migrating a fresh Label Studio database takes about two minutes on two cores, so the
first session keeps a migrated copy (admin included) under .venv-studio/ and later
sessions start from a copy of it; the server itself is always started fresh.
"""
from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest

from labeling.config import PROJECT_ROOT
from labeling.studio.server import LOG_FILE, STUDIO_BIN, start_server

TEMPLATE = PROJECT_ROOT / ".venv-studio" / "stance-test-template"


def _template() -> Path:
    """A migrated data directory with an admin, built once and reused (locked against parallel runs)."""
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with open(TEMPLATE.parent / "stance-test-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TEMPLATE / "ready").exists():
            shutil.rmtree(TEMPLATE, ignore_errors=True)
            server = start_server(TEMPLATE, timeout_s=600)
            server.stop()
            (TEMPLATE / "ready").touch()
    return TEMPLATE


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """A running StudioServer (url, username, password, api_key) for this test session."""
    if not STUDIO_BIN.exists():
        pytest.fail(f"{STUDIO_BIN} missing: run `make studio-venv` (make test does)")
    data_dir = tmp_path_factory.mktemp("labelstudio")
    shutil.copytree(_template(), data_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(LOG_FILE, "ready", "*.lock"))
    server = start_server(data_dir, timeout_s=300)
    yield server
    server.stop()
