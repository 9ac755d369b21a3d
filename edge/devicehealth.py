"""Device health as state: what each coordinator reports on /api/v1/health and /metrics.

A coordinator owns one :class:`DeviceState` and sets it from what its driver did; a change
of state is logged and goes to HQ as a ``device.state_changed`` event (an alert when the
state is not ``ok``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.clock import utc_now_iso

from edge.db.group_commit import Tx

log = logging.getLogger(__name__)
OK = "ok"


class DeviceState:
    def __init__(self, name: str, state: str = "starting") -> None:
        self.name = name  # e.g. "locker:main", "probe:pickup"
        self.state = state
        self.detail: str | None = None
        self.since = utc_now_iso()
        self.extra: dict[str, Any] = {}  # device-specific figures for health
        self.changes = 0

    def set(self, state: str, detail: str | None = None) -> bool:
        """Record the device's state; True when it changed (the caller then tells HQ)."""
        self.detail = detail
        if state == self.state:
            return False
        level = logging.INFO if state == OK else logging.ERROR
        log.log(level, "device %s: %s -> %s%s", self.name, self.state, state,
                f" ({detail})" if detail else "")
        self.state, self.since = state, utc_now_iso()
        self.changes += 1
        return True

    @property
    def up(self) -> bool:
        return self.state == OK

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail, "since": self.since, **self.extra}


class DeviceRegistry:
    """Every device of the daemon by name, in the order they were added."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceState] = {}

    def add(self, device: DeviceState) -> DeviceState:
        self.devices[device.name] = device
        return device

    def remove(self, name: str) -> None:
        self.devices.pop(name, None)

    def health(self) -> dict[str, dict[str, Any]]:
        return {name: device.as_dict() for name, device in self.devices.items()}


class DeviceCollector(Collector):
    """``storenode_device_up{device,state}`` (1 while the device is ok) and a gauge per
    figure a device reports, e.g. ``storenode_device_doors_open{device="locker:main"}``."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("storenode_device_up", "1 while a device is ok, else 0",
                               labels=["device", "state"])
        figures: dict[str, GaugeMetricFamily] = {}
        for name, device in self.registry.devices.items():
            up.add_metric([name, device.state], 1.0 if device.up else 0.0)
            for key, value in device.extra.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    if key not in figures:
                        figures[key] = GaugeMetricFamily(
                            f"storenode_device_{key}", f"Devices' {key.replace('_', ' ')}",
                            labels=["device"])
                    figures[key].add_metric([name], float(value))
        yield up
        yield from figures.values()


def record_state(tx: Tx, device: str, state: str, detail: str | None) -> None:
    """Writer job: tell HQ that a device changed state."""
    tx.emit("device.state_changed", {"device": device, "state": state, "detail": detail})
