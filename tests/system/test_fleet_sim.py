"""The fleet simulator (devtools/fleet.py, the benchmark tests/bench/test_fleet.py) on a
small fleet against a real Mosquitto and HQ: stores provisioned in one broker change, a load
with the daily mix (members, ledger entries, orders, payments, probes) applied exactly once
and without an invalid event, a broker restart with a backlog at every store that all catch
up, and a catalog change that reaches every store."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from pathlib import Path

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
                "broker_up": hq.hq.start_broker, "watching": change_catalog}, timeout_s=300)
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
