"""A dead box replaced (ARCHITECTURE §4e): HQ authorises a new box (a new epoch), the new box
is restored from HQ over the store's own topics, and the old box, back from a partition,
drains its sales exactly once and then refuses new ones. Real Mosquitto, real HQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.broker import provision
from cloud.config import load_settings as hq_settings
from devtools.chaos import ChaosProxy
from devtools.helpers import Daemon, login, request
from devtools.stack import (Hq, edge_app, edge_daemon, edge_sync, eventually, hq_db, hq_get,
                            hq_login, wait_until)
from edge.devices.printers import add_demo_printers
from edge.app import create_app as create_edge
from edge import keys
from edge.db.database import backup
from edge.members import sql as member_sql
from edge.syncer.restore import Interrupted, restore_from_backup, restore_from_hq
from edge.config import load_settings as edge_settings
from edge.db.database import db_path
from tests.conftest import Api, login_as

ORDER = {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}]}
PHONE = "13800138000"


@contextlib.asynccontextmanager
async def _shop(system: Hq, tmp_path: Path, aiohttp_client: Any
                ) -> AsyncIterator[tuple[Hq, ChaosProxy, Api, TestClient, Api]]:
    """HQ (in this process, on SQLite or PostgreSQL: the ``system`` fixture) and its broker,
    and the store's box behind a proxy that can cut it off: ``(hq, proxy, HQ admin, the box,
    its cashier)``."""
    with ChaosProxy(system.broker_port) as proxy:
        hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
        admin = await hq_login(hq)
        old = await edge_app(tmp_path, system, "s1", aiohttp_client, broker_url=proxy.url)
        yield system, proxy, admin, old, await login_as(old, "cashier")


def _placed_by_epoch(system: Hq) -> list[tuple[int, int]]:
    db = hq_db(system)
    try:
        rows = db._db.rows("SELECT epoch, COUNT(*) AS n FROM events WHERE store = 's1' AND "
                           "type = 'order.placed' GROUP BY epoch ORDER BY epoch")
    finally:
        db.close()
    return [(int(r["epoch"]), int(r["n"])) for r in rows]


async def _sell(cashier: Api, n: int, prefix: str) -> list[dict[str, Any]]:
    sold = []
    for i in range(n):
        status, order = await cashier.post("/api/v1/orders", ORDER,
                                           headers={"Idempotency-Key": f"{prefix}-{i:04d}"})
        assert status == 201, order
        sold.append(order)
    return sold


async def _hq_orders(admin: Api, n: int) -> list[dict[str, Any]] | None:
    status, orders = await admin.get("/api/v1/stores/s1/orders?limit=500")
    assert status == 200
    return list(orders) if len(orders) == n else None


async def _stock(api: Api, path: str) -> dict[str, int]:
    status, rows = await api.get(path)
    assert status == 200
    return {r["sku"]: r["on_hand"] for r in rows}


async def test_a_replaced_box_is_restored_and_the_old_one_drains_then_refuses(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    async with _shop(system, tmp_path, aiohttp_client) as (system, proxy, admin, old, old_cashier):
        status, _ = await admin.call("PUT", "/api/v1/loyalty/rules", {"default": 1})
        assert status == 200  # 1 point per yuan
        online = await _sell(old_cashier, 5, "online")
        await eventually(lambda: _hq_orders(admin, 5))  # with the staff and config
        member = await eventually(lambda: _member_async(old_cashier))
        await eventually(lambda: _rules_at(old))

        proxy.refuse = True  # the old box is cut off (a partition), and keeps selling
        proxy.cut()
        partitioned = await _sell(old_cashier, 49, "partitioned")
        status, earning = await old_cashier.post("/api/v1/orders", {**ORDER, "member": member},
                                                 headers={"Idempotency-Key": "member-sale"})
        assert status == 201 and earning["points_earned"] > 0, earning
        partitioned.append(earning)
        hq_stock = await _stock(admin, "/api/v1/stores/s1/inventory")

        creds = await asyncio.to_thread(provision.replace_store, system.dir, "s1")
        assert creds["epoch"] == 2 and creds["username"] == "s1@e2"
        status, stores = await admin.get("/api/v1/stores")
        assert [s["epoch"] for s in stores if s["store"] == "s1"] == [2]

        new_dir = tmp_path / "new-box"
        with pytest.raises(Interrupted):  # cut off half-way ...
            await restore_from_hq(new_dir, system.broker_url, creds["username"],
                                  creds["password"], stop_after=3)
        assert not (new_dir / "edge.toml").exists()
        result = await restore_from_hq(new_dir, system.broker_url, creds["username"],
                                       creds["password"])  # ... resumes
        assert result["store"] == "s1" and result["epoch"] == 2
        assert result["orders"] == 5 and result["chunks"] >= 1
        with pytest.raises(FileExistsError):  # a data dir holding a store is left alone
            await restore_from_hq(new_dir, system.broker_url, creds["username"],
                                  creds["password"])

        new: TestClient = await aiohttp_client(create_edge(edge_settings(new_dir)))
        new_cashier = await login_as(new, "cashier")  # staff came back, PIN hashes
        assert await _stock(new_cashier, "/api/v1/inventory") == hq_stock
        _, first = await new_cashier.post("/api/v1/orders", ORDER,
                                          headers={"Idempotency-Key": "new-0001"})
        day_last = max(o["number"] for o in online if o["day"] == first["day"])
        assert first["number"] == day_last + 101  # after HQ's last plus the gap
        await eventually(lambda: _hq_orders(admin, 6))

        old_stock = await _stock(old_cashier, "/api/v1/inventory")
        proxy.refuse = False  # the old box comes back: its 50 sales reach HQ once
        orders = await eventually(lambda: _hq_orders(admin, 56), timeout=40)
        assert len({o["id"] for o in orders}) == 56
        assert {o["id"] for o in partitioned} <= {o["id"] for o in orders}
        refused = await eventually(lambda: _refused(old_cashier), timeout=20)
        assert refused["error"] == "box_superseded"
        _, health = await old_cashier.get("/api/v1/health")
        assert health["box"]["superseded_at"] and health["box"]["epoch"] == 1

        # what the old box sold reaches the new one; both ends agree, nothing twice
        hq_after = await _stock(admin, "/api/v1/stores/s1/inventory")
        assert hq_after["C001"] == hq_stock["C001"] - 51
        await eventually(lambda: _same(new_cashier, admin))
        _, health = await new_cashier.get("/api/v1/health")
        assert health["box"] == {"epoch": 2, "superseded_at": None}
        # the old box applied nothing of the new box's feed (its own sales, forwarded back)
        assert await _stock(old_cashier, "/api/v1/inventory") == old_stock
        # ... and the points the member earned there (the ledger entry, through the feed)
        _, at_hq = await admin.get(f"/api/v1/members/{member}")
        assert at_hq["balances"]["points"] == earning["points_earned"]
        await eventually(lambda: _points(new_cashier, earning["points_earned"]))

        assert _placed_by_epoch(system) == [(1, 55), (2, 1)]
        with sqlite3.connect(db_path(new_dir)) as c:
            assert c.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 6
        result = await asyncio.to_thread(provision.revoke_box, system.dir, "s1", 1)
        assert result["revoked"] and result["username"] == "s1"


async def _refused(cashier: Api) -> dict[str, Any] | None:
    status, body = await cashier.post("/api/v1/orders", ORDER,
                                      headers={"Idempotency-Key": "after-superseded"})
    if status == 503:
        return dict(body)
    assert status == 201, body
    return None


async def _same(new_cashier: Api, admin: Api) -> bool:
    edge = await _stock(new_cashier, "/api/v1/inventory")
    hq = await _stock(admin, "/api/v1/stores/s1/inventory")
    return edge == hq


def _post(url: str, path: str, body: Any, token: str) -> tuple[int, Any]:
    return request("POST", f"{url}{path}", body, token=token,
                   headers={"Idempotency-Key": uuid.uuid4().hex})


def _get(url: str, path: str, token: str) -> Any:
    status, body = request("GET", f"{url}{path}", token=token)
    assert status == 200, (path, body)
    return body


def test_a_killed_box_is_restored_from_hq_with_what_hq_had(tmp_path: Path) -> None:
    """SIGKILL, the data dir gone, `storenode restore` (the CLI, a process of its own) into a
    new dir: orders, open orders, stock per SKU and member balances match HQ; the next number
    follows the day's last (plus the gap); the open order the kitchen had not taken prints."""
    system = Hq(tmp_path, ["s1"])
    system.start_broker()
    system.start()
    old = edge_daemon(tmp_path, system, "s1")
    add_demo_printers(old.data_dir)
    new: Daemon | None = None
    try:
        old.start()
        hq_token = system.token()
        cashier, manager = login(old.url, "cashier"), login(old.url, "manager")
        member = wait_until(lambda: _member(old.url, cashier), what="tenant key at the store")
        status, _ = _post(old.url, f"/api/v1/members/{member}/topup",
                          {"value_cents": 5000, "tender": "cash"}, manager)
        assert status == 201
        placed = []
        for n in range(4):
            status, order = _post(old.url, "/api/v1/orders", {
                "channel": "pos", "lines": [{"sku": "C001", "qty": 1 + n}],
                **({"member": member} if n == 0 else {})}, cashier)
            assert status == 201, order
            placed.append(order)
        for order, to in ((placed[0], "accepted"), (placed[1], "accepted")):
            status, _ = _post(old.url, f"/api/v1/orders/{order['id']}/transitions",
                              {"to": to}, cashier)
            assert status == 200
        wait_until(lambda: edge_sync(old.url)["pending"] == 0, what="everything at HQ")
        # the store holds a lease of the member's points and stored value (HQ grants it)
        allowance = wait_until(lambda: _get(old.url, f"/api/v1/members/lookup?phone={PHONE}",
                                            cashier)["allowance"], what="a lease")
        hq_orders = {o["id"]: o["status"] for o in
                     hq_get(system, hq_token, "/api/v1/stores/s1/orders?limit=100")}
        assert len(hq_orders) == 4
        hq_member = hq_get(system, hq_token, f"/api/v1/members/{member}")["balances"]
        hq_stock = {r["sku"]: r["on_hand"] for r in
                    hq_get(system, hq_token, "/api/v1/stores/s1/inventory")}

        assert old.kill() != 0  # SIGKILL, and the disk is gone
        shutil.rmtree(old.data_dir)
        replaced = subprocess.run(  # the technician's commands, each a process
            [sys.executable, "-c", "from cloud.cli import main; main()", "store", "replace",
             "s1", "--data-dir", str(system.dir)], capture_output=True, text=True, timeout=60)
        assert replaced.returncode == 0, replaced.stderr
        creds = json.loads(replaced.stdout)
        assert set(creds) >= {"store", "tenant", "epoch", "username", "password"}
        restored = subprocess.run(
            [sys.executable, "-m", "edge", "restore", "--data-dir", str(old.data_dir),
             "--broker", system.broker_url, "--username", creds["username"],
             "--password", creds["password"]], capture_output=True, text=True, timeout=120)
        assert restored.returncode == 0, restored.stderr
        result = json.loads(restored.stdout)
        assert result["store"] == "s1" and result["epoch"] == 2 and result["orders"] == 4
        assert "100 %" in restored.stderr  # the progress line

        new = Daemon(old.data_dir)  # the restored edge.toml holds the new credentials
        new.start()
        cashier = login(new.url, "cashier")
        edge_orders = {o["id"]: o["status"] for o in _get(new.url, "/api/v1/orders", cashier)}
        assert edge_orders == hq_orders
        assert {r["sku"]: r["on_hand"] for r in _get(new.url, "/api/v1/inventory", cashier)} \
            == hq_stock
        found = _get(new.url, f"/api/v1/members/lookup?phone={PHONE}", cashier)
        assert (found["points"], found["value_cents"]) == (hq_member["points"],
                                                          hq_member["value"])
        assert found["allowance"] == allowance  # the lease came back
        status, after = _post(new.url, "/api/v1/orders", {
            "channel": "pos", "lines": [{"sku": "C001", "qty": 1}]}, cashier)
        assert status == 201 and after["number"] == max(o["number"] for o in placed) + 101
        # placed, not taken by the kitchen yet: it prints again; the accepted ones do not
        wanted = {placed[2]["id"], placed[3]["id"], after["id"]}
        with sqlite3.connect(db_path(old.data_dir)) as conn:
            wait_until(lambda: {r[0] for r in conn.execute(
                "SELECT order_id FROM print_jobs WHERE kind = 'kitchen'")} >= wanted,
                what="kitchen tickets")
            printed = {r[0] for r in conn.execute("SELECT DISTINCT order_id FROM print_jobs")}
        assert printed == wanted
    finally:
        for daemon in (old, new):
            if daemon is not None:
                daemon.stop()
        system.stop_all()


def _member(url: str, token: str) -> str | None:
    status, body = _post(url, "/api/v1/members", {"phone": PHONE, "name": "Li"}, token)
    return str(body["id"]) if status == 201 else None


async def test_a_box_restored_from_a_local_backup_catches_up_with_hq(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    """The shop is offline when its box dies: the new box comes from the backup on the USB
    stick (no HQ needed to restore, it sells at once) and catches up when HQ is back: the
    backup's sales HQ never had reach it once, the ones it had are not counted twice, and
    the stock the old box moved after the backup reaches the new box."""
    async with _shop(system, tmp_path, aiohttp_client) as (system, proxy, admin, old, old_cashier):
        hq_stock_start = await eventually(lambda: _initial_stock(admin))
        await _sell(old_cashier, 3, "online")
        await eventually(lambda: _hq_orders(admin, 3))
        proxy.refuse = True  # offline: these two reach HQ later, by the old box
        proxy.cut()
        await _sell(old_cashier, 2, "synced-later")
        stick = tmp_path / "usb" / "s1.db"
        stick.parent.mkdir()
        backup(db_path(old.app[keys.SETTINGS].data_dir), stick)
        await _sell(old_cashier, 1, "after-backup-synced")
        proxy.refuse = False
        await eventually(lambda: _hq_orders(admin, 6))
        proxy.refuse = True  # offline again: this one and the backup's last is all
        proxy.cut()
        await _sell(old_cashier, 1, "lost")  # after the backup, never sent: lost
        await old.close()  # the box dies

        creds = await asyncio.to_thread(provision.replace_store, system.dir, "s1")
        new_dir = tmp_path / "new-box"
        result = restore_from_backup(stick, new_dir, proxy.url, creds["username"],
                                     creds["password"])
        assert result["epoch"] == 2 and result["orders"] == 5 and result["to_send"] >= 2
        new: TestClient = await aiohttp_client(create_edge(edge_settings(new_dir)))
        new_cashier = await login_as(new, "cashier")
        await _sell(new_cashier, 1, "new-offline")  # it sells before HQ is back
        proxy.refuse = False
        orders = await eventually(lambda: _hq_orders(admin, 7), timeout=30)
        assert len({o["id"] for o in orders}) == 7  # the backup's two once, the new one
        await eventually(lambda: _same(new_cashier, admin))  # the sale after the backup
        hq_now = await _stock(admin, "/api/v1/stores/s1/inventory")
        await eventually(lambda: _settled(new_cashier))
        with sqlite3.connect(db_path(new_dir)) as conn:  # the backup's events all sent
            assert conn.execute("SELECT COUNT(*) FROM outbox_prior").fetchone()[0] == 0
        assert hq_now["C001"] == hq_stock_start["C001"] - 7


async def _initial_stock(admin: Api) -> dict[str, int] | None:
    found = await _stock(admin, "/api/v1/stores/s1/inventory")
    return found if found.get("C001") else None


async def _settled(api: Api) -> bool:
    _, health = await api.get("/api/v1/health")
    return bool(health["sync"]["pending"] == 0 and health["box"]["epoch"] == 2)


async def test_the_sales_only_a_backup_holds_reach_hq_once(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    """Offline from before the backup to its death: the sales on the stick are known to no
    one else; the new box sends them up as the old box's (epoch 1), once."""
    async with _shop(system, tmp_path, aiohttp_client) as (system, proxy, admin, old, old_cashier):
        await _sell(old_cashier, 3, "online")
        await eventually(lambda: _hq_orders(admin, 3))
        proxy.refuse = True
        proxy.cut()
        offline = await _sell(old_cashier, 4, "offline")
        stick = tmp_path / "s1.db"
        backup(db_path(old.app[keys.SETTINGS].data_dir), stick)
        await old.close()

        creds = await asyncio.to_thread(provision.replace_store, system.dir, "s1")
        new_dir = tmp_path / "new-box"
        result = restore_from_backup(stick, new_dir, proxy.url, creds["username"],
                                     creds["password"])
        assert result["orders"] == 7 and result["to_send"] >= 4
        new: TestClient = await aiohttp_client(create_edge(edge_settings(new_dir)))
        new_cashier = await login_as(new, "cashier")
        await _sell(new_cashier, 1, "new")
        proxy.refuse = False
        orders = await eventually(lambda: _hq_orders(admin, 8), timeout=30)
        assert {o["id"] for o in offline} <= {o["id"] for o in orders}
        await eventually(lambda: _same(new_cashier, admin))
        await eventually(lambda: _settled(new_cashier))
        assert _placed_by_epoch(system) == [(1, 7), (2, 1)]


async def _member_async(cashier: Api) -> str | None:
    status, body = await cashier.post("/api/v1/members", {"phone": PHONE, "name": "Li"},
                                      headers={"Idempotency-Key": "member-li"})
    return str(body["id"]) if status == 201 else None


async def _points(cashier: Api, points: int) -> bool:
    status, body = await cashier.get(f"/api/v1/members/lookup?phone={PHONE}")
    return status == 200 and body["points"] == points


async def _rules_at(box: TestClient) -> bool:
    rules = await box.app[keys.DB].read(member_sql.loyalty_rules)
    return bool(rules and rules.get("default") == 1)
