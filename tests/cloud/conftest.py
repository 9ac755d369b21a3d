"""HQ with its broker for end-to-end tests, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack import Hq
from tests.pg import throwaway_database


def hq_stack(backend: str, tmp_path: Path, stores: list[str]) -> Iterator[Hq]:
    """A provisioned HQ for ``stores`` and its real Mosquitto, on ``backend``."""
    def build(database: str | None) -> Iterator[Hq]:
        found = Hq(tmp_path, stores, database)
        found.start_broker()
        try:
            yield found
        finally:
            found.stop_all()

    if backend == "sqlite":
        yield from build(None)
    else:
        with throwaway_database("storenode_test_e2e") as url:
            yield from build(url)


@pytest.fixture(params=("sqlite", "postgres"))
def system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hq]:
    """A provisioned HQ for store s1 and its real Mosquitto, on SQLite and on PostgreSQL."""
    yield from hq_stack(request.param, tmp_path, ["s1"])
