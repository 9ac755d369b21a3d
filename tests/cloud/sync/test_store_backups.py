"""HQ's store list shows each store's lag and its last local backup's age, from the store's
backup.done event (real Mosquitto, HQ on SQLite and PostgreSQL, an edge in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from devtools.stack import Hq, edge_app, eventually, hq_login
from edge.backups import commands as backups
from edge.db.database import backup, db_path
from tests.conftest import Api, login_as


async def _store(admin: Api) -> dict[str, Any]:
    _, stores = await admin.get("/api/v1/stores")
    return next(s for s in stores if s["store"] == "s1")


async def test_the_store_list_shows_the_last_backup(system: Hq, tmp_path: Path,
                                                    aiohttp_client: Any) -> None:
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    cashier = await login_as(edge, "cashier")

    async def online() -> bool:
        return bool((await _store(admin))["online"])
    await eventually(online)
    assert (await _store(admin))["backup_age_s"] is None
    data = tmp_path / "s1"
    target = tmp_path / "backup.db"
    backups.record(db_path(data), "s1", target, backup(db_path(data), target))  # as the CLI
    status, _ = await cashier.post("/api/v1/orders", {"channel": "pos", "lines": [
        {"sku": "C001", "qty": 1}]}, headers={"Idempotency-Key": "after-backup-1"})
    assert status == 201

    async def backed_up() -> dict[str, Any] | None:
        row = await _store(admin)
        return row if row["backup_age_s"] is not None else None
    row = await eventually(backed_up)
    assert 0 <= row["backup_age_s"] < 60 and row["last_backup_at"] and row["lag_s"] is not None
