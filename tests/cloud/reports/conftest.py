"""A ``CloudDb`` on each backend (SQLite, a throw-away PostgreSQL database) with two partner
stores, and a helper that writes orders the way the projection does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.broker import provision
from cloud.database import CloudDb

# the HQ API fixtures, for every test module here
from tests.cloud.api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from tests.helpers import ROOT

STORES = ("canteen", "shop")


@pytest.fixture
def cdb(db_url: str) -> Iterator[CloudDb]:  # noqa: F811
    db = CloudDb.open(db_url)
    for store in STORES:
        db.add_store(store, "acme")
    yield db
    db.close()


class Orders:
    def __init__(self, db: CloudDb) -> None:
        self.db, self.n = db, 0

    def add(self, store: str, day: str, total: int, member: str | None = None,
            status: str = "completed", channel: str = "pos",
            lines: list[tuple[str, int, int]] | None = None, hour: int = 12) -> str:
        self.n += 1
        order_id = f"O{self.n:08d}"
        at = f"{day}T{hour:02d}:00:00.000Z"
        backend = self.db._db
        with backend.write():
            backend.execute(
                "INSERT INTO orders(store, id, number, day, channel, status, total_cents, member, "
                "pickup, created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (store, order_id, self.n, day, channel, status, total, member, at, at, self.n))
            for n, (sku, qty, unit) in enumerate(lines or [], 1):
                backend.execute(
                    "INSERT INTO order_lines(store, order_id, line_no, sku, qty, unit_cents, "
                    "total_cents) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (store, order_id, n, sku, qty, unit, qty * unit))
        return order_id

    def member(self, member_id: str, merged_into: str | None = None,
               created_at: str = "2026-01-01T00:00:00.000Z") -> None:
        backend = self.db._db
        with backend.write():
            backend.execute("INSERT INTO members(id, tenant, created_at, merged_into, updated_at) "
                            "VALUES (?, 'acme', ?, ?, ?)",
                            (member_id, created_at, merged_into, created_at))


@pytest.fixture
def orders(cdb: CloudDb) -> Orders:
    return Orders(cdb)




def cli_hq(data: Path, db_url: str, stores: tuple[str, ...],  # noqa: F811
           seed: Callable[[CloudDb], None]) -> Callable[..., tuple[int, str]]:
    """An HQ data dir with ``stores`` and ``seed``'s orders; runs ``storenode-cloud ARGS
    --data-dir`` on it: (exit code, output)."""
    provision.init_cloud(data, database=db_url)
    for store in stores:
        provision.add_store(data, store, "acme")
    db = CloudDb.open(db_url)
    try:
        seed(db)
    finally:
        db.close()

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", "from cloud.cli import main; main()",
                               *args, "--data-dir", str(data)],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
        return done.returncode, done.stdout + done.stderr

    return run
