"""Fixtures of the cloud tests: a ``CloudDb`` on each backend (SQLite file, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.database import CloudDb
from tests.pg import throwaway_database

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database on each backend (PostgreSQL: dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
    else:
        with throwaway_database() as url:
            yield url


@pytest.fixture
def db(db_url: str) -> Iterator[CloudDb]:
    cloud = CloudDb.open(db_url)
    cloud.add_store("s1", "acme")
    yield cloud
    cloud.close()
