"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import load_settings
from edge.db.database import migrate
from edge.db.group_commit import DbWriter

from tests.helpers import make_store


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[DbWriter]:
    """A running writer thread on a fresh demo store's database."""
    settings = load_settings(make_store(tmp_path / "store"))
    migrate(settings.db_path)
    db = DbWriter(settings.db_path, settings.store_id)
    db.start()
    yield db
    db.stop()
