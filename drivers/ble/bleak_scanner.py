"""A probe on a local Bluetooth adapter through bleak (BlueZ over D-Bus on Linux).

bleak is imported only when a scan starts, so the daemon runs without the ``ble`` extra."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from drivers.ble.base import AdapterMissing, Advert, AdvertCallback, signature


def advert_from_bleak(device: Any, adv: Any, at: float) -> Advert:
    """bleak's ``BLEDevice`` and ``AdvertisementData`` (or objects of the same shape)."""
    return Advert(address=str(device.address), rssi=int(adv.rssi),
                  signature=signature(adv.local_name, list(adv.manufacturer_data or {}),
                                      list(adv.service_uuids or [])), at=at)


class BleakProbe:
    def __init__(self, adapter: str = "hci0", clock: Callable[[], float] = time.time,
                 backend: Any = None) -> None:
        self.adapter = adapter
        self.backend = backend  # a bleak scanner backend class; None: the platform's
        self._clock = clock
        self._callback: AdvertCallback | None = None
        self._scanner: Any = None

    def on_detection(self, device: Any, adv: Any) -> None:
        """bleak's detection callback (tests call it with built advertisement data)."""
        if self._callback is not None:
            self._callback(advert_from_bleak(device, adv, self._clock()))

    async def start(self, callback: AdvertCallback) -> None:
        self._callback = callback
        try:
            from bleak import BleakScanner
        except ImportError as exc:
            raise AdapterMissing("bleak is not installed: pip install 'storenode[ble]'") from exc
        scanner = BleakScanner(self.on_detection, bluez={"adapter": self.adapter},
                               backend=self.backend)
        try:
            await scanner.start()
        except Exception as exc:  # noqa: BLE001 - BleakError, D-Bus errors, OSError, ...
            raise AdapterMissing(f"BLE adapter {self.adapter} unavailable: "
                                 f"{type(exc).__name__}: {exc}") from exc
        self._scanner = scanner

    async def stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        self._callback = None
        if scanner is not None:
            await scanner.stop()
