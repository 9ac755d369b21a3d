"""One coordinator per probe zone: starts its scanner, turns a missing adapter into the
zone's state (health, metrics, ``device.state_changed``) and retries it later."""

from __future__ import annotations

import logging
from collections.abc import Callable

from drivers.ble import Advert, ProbeError, Scanner, make_scanner

from edge.devicehealth import OK, DeviceState
from edge.probes.settings import ZoneProbe

log = logging.getLogger(__name__)


class ProbeCoordinator:
    def __init__(self, probe: ZoneProbe, scanner: Scanner | None = None) -> None:
        self.probe = probe
        self.zone = probe.zone
        self.scanner = scanner if scanner is not None else make_scanner(probe.options)
        self.device = DeviceState(f"probe:{probe.zone}")
        self.device.extra = {"type": probe.options["type"], "adverts": 0}
        self.running = False

    async def start(self, on_advert: Callable[[str, Advert], None]) -> bool:
        """Start scanning; False (and the state says why) when the adapter is missing."""
        def deliver(advert: Advert) -> None:
            self.device.extra["adverts"] += 1
            on_advert(self.zone, advert)

        try:
            await self.scanner.start(deliver)
        except ProbeError as exc:
            self.device.set(exc.state, str(exc))
            return False
        self.running = True
        self.device.set(OK)
        return True

    async def stop(self) -> None:
        if self.running:
            self.running = False
            try:
                await self.scanner.stop()
            except Exception as exc:  # noqa: BLE001 - an adapter gone while stopping
                log.warning("probe %s: stop: %s", self.zone, exc)
