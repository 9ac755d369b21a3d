"""HQ restored from its backup (the SQLite default): the store's events after the copy come
again through the protocol's gap handling (the edge keeps acknowledged events for
sync.retain_hours), so nothing is lost and nothing is counted twice."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from cloud.app import create_app as create_hq
from cloud.cli import cli as cloud_cli
from cloud.config import load_settings as hq_settings
from cloud.db.backup import sqlite_path
from devtools.stack import Hq, edge_app, eventually, hq_login
from tests.conftest import Api, login_as


async def _orders(admin: Api) -> list[dict[str, Any]]:
    status, orders = await admin.get("/api/v1/stores/s1/orders?limit=100")
    assert status == 200
    return list(orders)


async def _sell(cashier: Api, n: int, prefix: str) -> None:
    for i in range(n):
        status, _ = await cashier.post("/api/v1/orders", {
            "channel": "pos", "lines": [{"sku": "C001", "qty": 1}]},
            headers={"Idempotency-Key": f"{prefix}-{i:04d}"})
        assert status == 201


async def test_hq_restored_from_a_backup_gets_every_sale_once(
        tmp_path: Path, aiohttp_client: Any) -> None:
    system = Hq(tmp_path, ["s1"])
    system.start_broker()
    try:
        hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
        admin = await hq_login(hq)
        edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
        cashier = await login_as(edge, "cashier")
        await _sell(cashier, 3, "before")
        await eventually(lambda: _count(admin, 3))
        copy = tmp_path / "hq-backup.db"
        result = CliRunner().invoke(cloud_cli, ["db", "backup", str(copy), "--data-dir",
                                                str(system.dir)])
        assert result.exit_code == 0, result.output
        await _sell(cashier, 3, "after")  # reach HQ, then HQ's disk is lost
        await eventually(lambda: _count(admin, 6))

        await hq.close()
        database = sqlite_path(hq_settings(system.dir).database)
        for extra in (database.with_name(database.name + "-wal"),
                      database.with_name(database.name + "-shm")):
            extra.unlink(missing_ok=True)
        shutil.copyfile(copy, database)
        with sqlite3.connect(database) as restored:  # what the copy held
            assert restored.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 3
        hq = await aiohttp_client(create_hq(hq_settings(system.dir)))
        admin = await hq_login(hq)
        await _sell(cashier, 1, "restored")  # the next batch shows HQ the gap
        orders = await eventually(lambda: _count(admin, 7), timeout=30)
        assert len({o["id"] for o in orders}) == 7
        _, stock = await admin.get("/api/v1/stores/s1/inventory")
        _, edge_stock = await cashier.get("/api/v1/inventory")
        c001 = {s["sku"]: s["on_hand"] for s in edge_stock}["C001"]
        assert {s["sku"]: s["on_hand"] for s in stock}["C001"] == c001  # no sale twice
    finally:
        system.stop_all()


async def _count(admin: Api, n: int) -> list[dict[str, Any]] | None:
    orders = await _orders(admin)
    return orders if len(orders) == n else None
