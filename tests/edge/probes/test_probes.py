"""BLE probes in the app: visit and conversion events, daily salts, a missing adapter
(the bleak driver itself: tests/drivers/ble/)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from drivers.ble import Advert, FakeProbe, advert_from_bleak
from edge import keys
from tests.conftest import login_as
from tests.edge.lockers.conftest import events, staff, ready_order, wait_for

from tests.drivers.ble.bleak_inject import bleak_advert, bleak_device

ZONES = ('[probes]\nconversion_window_s = 600\n'
         '[probes.pickup]\ntype = "fake"\nrssi_threshold = -70\nmin_dwell_s = 10\ngap_s = 30\n'
         '[probes.store]\ntype = "fake"\nrssi_threshold = -80\nmin_dwell_s = 10\ngap_s = 30\n')


def _inject(app: Any, zone: str, address: str, rssi: int, at: float) -> None:
    probe: FakeProbe = app[keys.PROBES].zones[zone].scanner
    probe.inject(advert_from_bleak(bleak_device(address), bleak_advert(rssi), at))


async def test_visits_and_conversion_become_events_without_identities(
        app_client: Any, store_dir: Path) -> None:
    client = await app_client(ZONES)
    app = client.server.app
    service = app[keys.PROBES]
    t0 = 1_800_000_000.0  # all adverts on the test's own timeline
    phones = {"converts": "11:22:33:44:55:01", "leaves": "11:22:33:44:55:02",
              "far": "11:22:33:44:55:03"}
    for second in range(0, 21, 5):
        _inject(app, "pickup", phones["converts"], -60, t0 + second)
        _inject(app, "pickup", phones["leaves"], -65, t0 + second)
        _inject(app, "pickup", phones["far"], -90, t0 + second)  # below the threshold
    for second in range(100, 121, 5):
        _inject(app, "store", phones["converts"], -70, t0 + second)
    await service.tick(now=t0 + 200)
    await service.tick(now=t0 + 20 + 601)  # both pickup windows have closed
    visits = events(store_dir, "probe.visit")
    assert sorted(v["zone"] for v in visits) == ["pickup", "pickup", "store"]
    assert {v["dwell_s"] for v in visits} == {20}
    conversion = events(store_dir, "probe.conversion")[-1]
    assert (conversion["pickup_visitors"], conversion["converted"], conversion["share"]) == (
        2, 1, 0.5)
    raw = (store_dir / "storenode.db").read_bytes() + b"".join(
        p.read_bytes() for p in store_dir.glob("storenode.db-*"))
    for address in phones.values():
        assert address.encode() not in raw
    for visitor in service.trackers["pickup"].open:
        assert visitor.encode() not in raw
    conn = sqlite3.connect(store_dir / "storenode.db")
    day = conn.execute("SELECT visits, converted, decided FROM probe_days WHERE zone='pickup'"
                       ).fetchone()
    conn.close()
    assert day == (2, 1, 2)
    resp = await client.get("/api/v1/health")
    assert (await resp.json())["devices"]["probe:pickup"]["state"] == "ok"
    manager = await login_as(client, "manager")
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {manager.token}"})
    metrics = await resp.text()
    assert 'storenode_device_up{device="probe:store",state="ok"} 1.0' in metrics
    assert 'storenode_device_adverts{device="probe:pickup"} 15.0' in metrics


async def test_identities_change_with_the_daily_salt(app_client: Any, store_dir: Path) -> None:
    client = await app_client(ZONES)
    service = client.server.app[keys.PROBES]
    advert = Advert("11:22:33:44:55:01", -60, b"x", 0.0)
    before = service.visitor(advert)
    assert service.visitor(advert) == before
    await service.tick(now=service._clock() + 86400)  # the next shop-local day
    assert service.visitor(advert) != before


async def test_missing_adapter_is_a_state_and_orders_keep_flowing(
        app_client: Any, store_dir: Path) -> None:
    client = await app_client('[probes.pickup]\ntype = "bleak"\nadapter = "hci99"\n')
    resp = await client.get("/api/v1/health")
    health = await resp.json()
    assert health["status"] == "ok"
    assert health["devices"]["probe:pickup"]["state"] == "adapter_missing"
    assert "hci99" in health["devices"]["probe:pickup"]["detail"]
    cashier, kitchen, _ = await staff(client)
    await ready_order(cashier, kitchen, pickup=False)
    alerts = await wait_for(lambda: events(store_dir, "device.state_changed"))
    assert alerts[0]["device"] == "probe:pickup" and alerts[0]["state"] == "adapter_missing"
