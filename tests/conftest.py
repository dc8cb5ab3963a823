"""Fixtures shared by every test folder (data and helpers live in tests/helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TAGS, labeled_rows, make_rows, train_tiny_baseline, write_jsonl


@pytest.fixture
def tags() -> list[str]:
    return list(TAGS)


@pytest.fixture
def rows() -> list[dict]:
    return make_rows()


@pytest.fixture
def labeled_file(tmp_path, rows) -> Path:
    return write_jsonl(tmp_path / "labeled.jsonl", rows)


@pytest.fixture(scope="session")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real baseline model directory trained on the sixty hand-written rows (fast settings)."""
    rows = labeled_rows()
    train = [r for r in rows if not r["id"].endswith("-2")]
    validation = [r for r in rows if r["id"].endswith("-2")]
    return train_tiny_baseline(train, validation, tmp_path_factory.mktemp("baseline") / "model")
