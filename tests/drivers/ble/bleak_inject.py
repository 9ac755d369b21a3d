"""A bleak scanner backend with no radio: ``advertise`` pushes advertisement data through
bleak's own detection-callback path, as BlueZ would."""

from __future__ import annotations

from typing import Any

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner


class InjectBackend(BaseBleakScanner):
    last: InjectBackend | None = None

    def __init__(self, detection_callback: Any, service_uuids: Any, scanning_mode: Any,
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self.scanning = False
        InjectBackend.last = self

    async def start(self) -> None:
        self.scanning = True

    async def stop(self) -> None:
        self.scanning = False

    def advertise(self, address: str, rssi: int, name: str | None = None,
                  company_ids: tuple[int, ...] = (76,)) -> None:
        adv = bleak_advert(rssi, name, company_ids)
        device = self.create_or_update_device(address, address, name, {}, adv)
        self.call_detection_callbacks(device, adv)


def bleak_advert(rssi: int, name: str | None = None,
                 company_ids: tuple[int, ...] = (76,)) -> AdvertisementData:
    return AdvertisementData(local_name=name,
                             manufacturer_data={c: b"\x10\x05" for c in company_ids},
                             service_data={}, service_uuids=[], tx_power=None, rssi=rssi,
                             platform_data=())


def bleak_device(address: str, name: str | None = None) -> BLEDevice:
    return BLEDevice(address, name, {})
