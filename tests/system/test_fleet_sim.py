"""The fleet simulator (devtools/fleet.py, the benchmark tests/bench/test_fleet.py) on a
small fleet against a real Mosquitto and HQ: stores provisioned in one broker change, a load
with the daily mix (members, ledger entries, orders, payments, probes) applied exactly once
and without an invalid event, a broker restart with a backlog at every store that all catch
up, and a catalog change that reaches every store."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

from devtools.fleet import Fleet
from devtools.helpers import request
from tests.bench.fleet_run import FleetHq, run_fleet

STORES = 12


def test_a_small_fleet_speaks_the_protocol_end_to_end(tmp_path: Path) -> None:
    hq = FleetHq(tmp_path, None, STORES)
    hq.start(1)
    token = hq.hq.token()

    def change_catalog() -> None:
        threading.Thread(target=lambda: request(
            "PUT", f"{hq.hq.url}/api/v1/catalog/items/Z001",
            {"name": "Fleet dish", "category": "mains", "station": "kitchen",
             "price_cents": 1800}, token=token)).start()

    try:
        out = run_fleet(hq, [
            {"do": "connect", "timeout_s": 30},
            {"do": "load", "rate": 4.0, "seconds": 3, "warmup_s": 1},
            {"do": "pause", "name": "broker_down"},
            {"do": "backlog", "events": 40},
            {"do": "pause", "name": "broker_up"},
            {"do": "drain", "timeout_s": 60, "name": "storm"},
            {"do": "watch", "type": "catalog.item", "key": "sku", "value": "Z001",
             "timeout_s": 30, "name": "catalog"},
            {"do": "stop"}],
            on={"broker_down": lambda: hq.hq.kill_broker(signal.SIGTERM),
                "broker_up": hq.hq.start_broker, "watching": change_catalog}, timeout_s=300,
            procs=2)  # the stores shared by two simulator processes, their results merged
    finally:
        hq.stop()
    assert out["connect"]["connected"] == STORES
    assert out["load"]["offered"] > 0 and out["load"]["lag"]["n"] > 0
    assert out["storm"]["caught_up"] == STORES and out["storm"]["events"] >= 40 * STORES
    assert out["catalog"]["applied_by"] == STORES, out["catalog"]
    assert out["stop"]["acked"] == out["stop"]["events"]
    assert out["stop"]["connects"] >= 2 * STORES  # every store reconnected after the restart
    db = sqlite3.connect(hq.hq.dir / "hq.db")
    try:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        kinds = {r[0] for r in db.execute("SELECT DISTINCT type FROM events")}
        invalid = db.execute("SELECT detail FROM conflicts").fetchall()
        members = db.execute("SELECT count(*) FROM members").fetchone()[0]
    finally:
        db.close()
    assert events == out["stop"]["events"]  # each once
    assert {"order.placed", "order.paid", "member.created", "ledger.entry"} <= kinds
    assert members > 0 and not invalid, [json.loads(d[0]) for d in invalid][:3]


async def test_the_load_offers_its_rate_when_the_loop_is_slowed() -> None:
    """Open loop: each store's next event is due a random gap after the previous one was
    due, not after the simulator got to it. The simulator shares the cores with what it
    measures; counting from when it got to an event offered less than the rate asked."""
    fleet = Fleet("mqtt://127.0.0.1:1", [{"store": f"s{n}", "tenant": "acme",
                                          "password": "x"} for n in range(20)])
    stop = asyncio.Event()

    async def hog() -> None:  # the other processes: the loop gets the core in bursts
        while not stop.is_set():
            time.sleep(0.04)
            await asyncio.sleep(0.005)

    hogging = asyncio.create_task(hog())
    try:
        out = await fleet.load(rate=20.0, seconds=2.0, warmup_s=0.5)
    finally:
        stop.set()
        await hogging
    # 20 stores x 20 events/s x 2 s; Poisson arrivals of a fixed seed
    assert 0.9 * 800 <= out["offered"] <= 1.1 * 800, out  # counted from then: 570


def test_a_small_fleet_with_the_followers_fan_out(tmp_path: Path) -> None:
    """HQ's ``followers`` member fan-out under the simulator's mix, whose tills meet other
    stores' members (``member.sought``): every member change a store got is of a member it
    follows, every visit made the store a follower, and nothing is a conflict."""
    hq = FleetHq(tmp_path, None, STORES, fanout="followers")
    hq.start(1)
    try:
        out = run_fleet(hq, [{"do": "connect", "timeout_s": 30},
                             {"do": "load", "rate": 10.0, "seconds": 6, "warmup_s": 2},
                             {"do": "drain", "timeout_s": 60}, {"do": "stop"}], timeout_s=300)
    finally:
        hq.stop()
    assert out["drain"]["caught_up"] == STORES
    db = sqlite3.connect(hq.hq.dir / "hq.db")
    try:
        sought = db.execute("SELECT store, data FROM events WHERE type = 'member.sought'"
                            ).fetchall()
        not_following = db.execute(
            "SELECT count(*) FROM changes c WHERE c.type IN ('member.upsert', 'ledger.entry') "
            "AND NOT EXISTS (SELECT 1 FROM member_followers f WHERE f.store = c.store AND "
            "f.member = coalesce(json_extract(c.data, '$.member.id'), "
            "json_extract(c.data, '$.member')))").fetchone()[0]
        visiting = {r[0] for r in db.execute(  # stores following a member made elsewhere
            "SELECT f.store FROM member_followers f JOIN members m ON m.id = f.member "
            "WHERE m.origin != f.store").fetchall()}
        sent = db.execute("SELECT count(*) FROM changes WHERE type = 'member.upsert'"
                          ).fetchone()[0]
        invalid = db.execute("SELECT detail FROM conflicts").fetchall()
    finally:
        db.close()
    assert sought and {store for store, _ in sought} <= visiting, (sought, visiting)
    # HQ keeps the question, not the identity hash (cloud/sync/apply.py)
    assert all(json.loads(data) == {"identity": {"kind": "phone"}} for _, data in sought)
    assert sent >= len(sought)  # each visit brought the member to the store
    assert not_following == 0
    assert not invalid, [json.loads(d[0]) for d in invalid][:3]
