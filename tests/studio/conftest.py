"""A real Label Studio for the integration and browser tests: started once per session
on a free loopback port with a temporary data directory, stopped at the end.

Migrating a fresh Label Studio database takes about two minutes on two cores, so the
first session keeps a migrated copy (admin included) under .venv-studio/ and later
sessions start from a copy of it; the server itself is always started fresh.
"""
from __future__ import annotations

import pytest

from labeling.studio.server import STUDIO_BIN
from tests.studio.helpers import fresh_server


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """A running StudioServer (url, username, password, api_key) for this test session."""
    if not STUDIO_BIN.exists():
        pytest.fail(f"{STUDIO_BIN} missing: run `make studio-venv` (make test does)")
    server = fresh_server(tmp_path_factory.mktemp("labelstudio"))
    yield server
    server.stop()
