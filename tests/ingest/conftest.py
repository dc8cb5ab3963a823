"""Shared fixtures for the ingestion tests: fixture paths and one options object per module."""
from __future__ import annotations

from pathlib import Path

import pytest

from labeling.ingest.pipeline import IngestOptions

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def options() -> IngestOptions:
    # One per module: the language model loads once (~1 s) instead of per test.
    return IngestOptions()


@pytest.fixture
def messy_path() -> Path:
    return FIXTURES / "messy_scrape.txt"


@pytest.fixture
def html_path() -> Path:
    return FIXTURES / "page.html"
