"""The daemon's devices as one ``cleanup_ctx``: locker banks and BLE probes start after the
database and stop before it. A device that fails only changes its state; the daemon keeps
serving orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from edge import keys
from edge.config import CONFIG_FILE
from edge.devicehealth import DeviceCollector
from edge.lockers.coordinator import LockerCoordinator
from edge.lockers.pickup import LockerService
from edge.probes.coordinator import ProbeCoordinator
from edge.probes.footfall import ProbeService


async def devices_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, db, registry = app[keys.SETTINGS], app[keys.DB], app[keys.DEVICES]
    app[keys.METRICS].registry.register(DeviceCollector(registry))
    lockers = probes = None
    hub = app[keys.HUB]
    try:
        if settings.lockers:
            coordinators = [LockerCoordinator(bank) for bank in settings.lockers]
            for coordinator in coordinators:
                registry.add(coordinator.device)
            lockers = app[keys.LOCKERS] = LockerService(db, coordinators, settings.secret)
            await lockers.start()
            hub.listeners.append(lockers.wake)
        if settings.probes is not None:
            zones = [ProbeCoordinator(probe) for probe in settings.probes.zones]
            for zone in zones:
                registry.add(zone.device)
            probes = app[keys.PROBES] = ProbeService(db, settings.probes, settings.timezone, zones)
            await probes.start()
        yield
    finally:
        if lockers is not None:
            if lockers.wake in hub.listeners:
                hub.listeners.remove(lockers.wake)
            await lockers.stop()
        if probes is not None:
            await probes.stop()
            await probes.flush()


DEMO_DEVICES = """
# Demo devices with no hardware: a simulated locker bank and BLE probes that hear only what
# tests inject. See docs/devices.md for the real types (serial, network, bleak, replay).
[lockers.main]
type = "fake"
compartments = 8
hold_s = 1800

[probes]
conversion_window_s = 1800

[probes.pickup]
type = "fake"

[probes.store]
type = "fake"
"""


def add_demo_devices(data_dir: Path) -> None:
    """The demo store's simulated lockers and probes, appended to its edge.toml."""
    with (data_dir / CONFIG_FILE).open("a", encoding="utf-8") as fh:
        fh.write(DEMO_DEVICES)
