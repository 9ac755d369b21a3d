"""Locker, probe and device events reach HQ through the real sync path (Mosquitto, the HQ
service on SQLite): they are outbox events like any other."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from drivers.ble import Advert
from edge import keys
from tests.helpers import make_store
from devtools.stack import Hq, edge_app, eventually

from .conftest import add_config, events, ready_order, staff


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[Hq]:
    system = Hq(tmp_path, ["s1"])
    system.start_broker()
    try:
        yield system
    finally:
        system.stop_all()


def hq_events(hq: Hq, prefix: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(hq.dir / "hq.db")
    try:
        rows = conn.execute("SELECT type, data FROM events WHERE store = 's1' AND type LIKE ? "
                            "ORDER BY seq", (prefix + "%",)).fetchall()
    finally:
        conn.close()
    return [{"type": t, **json.loads(d)} for t, d in rows]


async def test_locker_and_probe_events_reach_hq(hq: Hq, tmp_path: Path,
                                                aiohttp_client: Any) -> None:
    await aiohttp_client(create_hq(hq_settings(hq.dir)))
    store = make_store(tmp_path / "s1", "s1")
    add_config(store, '[lockers.main]\ntype = "fake"\ncompartments = 2\npoll_ms = 100\n'
                      '[probes.pickup]\ntype = "fake"\nmin_dwell_s = 0\n')
    edge = await edge_app(tmp_path, hq, "s1", aiohttp_client)
    cashier, kitchen, _ = await staff(edge)
    order = await ready_order(cashier, kitchen, pickup=False, channel="eleme")
    assigned = await eventually(lambda: events(store, "locker.assigned"))
    status, _ = await cashier.post("/api/v1/lockers/open", {"code": assigned[0]["code"]})
    assert status == 200
    probes = edge.server.app[keys.PROBES]
    probes.zones["pickup"].scanner.inject(Advert("AA:BB:CC:DD:EE:FF", -50, b"|76|", 1.8e9))
    await probes.flush()

    got = await eventually(lambda: {e["type"] for e in hq_events(hq, "")}
                           >= {"locker.assigned", "locker.opened", "probe.visit",
                               "probe.conversion", "device.state_changed"} and
                           hq_events(hq, ""))
    opened = next(e for e in got if e["type"] == "locker.opened")
    assert (opened["order_id"], opened["state"]) == (order["id"], "collected")
    completed = [e for e in got if e["type"] == "order.status_changed" and e["to"] == "completed"]
    assert [e["order"]["id"] for e in completed] == [order["id"]]
