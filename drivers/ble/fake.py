"""A probe with no radio: it delivers what is injected (tests, ``make run``)."""

from __future__ import annotations

from drivers.ble.base import AdapterMissing, Advert, AdvertCallback


class FakeProbe:
    def __init__(self) -> None:
        self._callback: AdvertCallback | None = None
        self.missing = False  # set to behave like a box without an adapter

    async def start(self, callback: AdvertCallback) -> None:
        if self.missing:
            raise AdapterMissing("fake adapter removed")
        self._callback = callback

    def inject(self, advert: Advert) -> None:
        if self._callback is not None:
            self._callback(advert)

    async def stop(self) -> None:
        self._callback = None
