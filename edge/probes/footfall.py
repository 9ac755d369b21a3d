"""Foot traffic of one store: adverts from each zone's probe become pseudonymous visitors,
counted visits and the pickup-to-store conversion, written as events for HQ.

Privacy: a visitor is ``HMAC-SHA256(salt, address | advert signature)``, cut to 16 hex
digits, with a random salt made when the daemon starts and replaced at every shop-local
midnight. The salt lives only in memory; visitors never reach the database or an event
(events hold zones, times, dwell and counts), so nothing stored identifies a phone, and a
visitor cannot be followed from one day to the next."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from drivers.ble import Advert

from edge.devicehealth import record_state
from edge.probes.rules import Conversion, Visit, VisitTracker
from edge.db.database import Database
from edge.probes import sql as store
from edge.probes.coordinator import ProbeCoordinator
from edge.probes.settings import ProbeSettings

log = logging.getLogger(__name__)
TICK_S = 1.0
RETRY_S = 30.0  # how often a zone whose adapter is missing is tried again


class ProbeService:
    def __init__(self, db: Database, settings: ProbeSettings, tz: ZoneInfo,
                 coordinators: list[ProbeCoordinator],
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.settings, self.tz, self._clock = db, settings, tz, clock
        self.zones = {c.zone: c for c in coordinators}
        self.trackers = {p.zone: VisitTracker(p.zone, p.rssi_threshold, p.min_dwell_s, p.gap_s)
                         for p in settings.zones}
        self.conversion = Conversion(settings.conversion_window_s)
        self.day = self._day(clock())
        self._salt = secrets.token_bytes(32)
        self._reported = {c.zone: 0 for c in coordinators}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for coordinator in self.zones.values():
            await coordinator.start(self.on_advert)
            await self._report(coordinator)
        self._task = asyncio.create_task(self._run(), name="storenode-probes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for coordinator in self.zones.values():
            await coordinator.stop()

    def visitor(self, advert: Advert) -> str:
        mac = hmac.new(self._salt, advert.address.encode() + b"|" + advert.signature,
                       hashlib.sha256)
        return mac.hexdigest()[:16]

    def on_advert(self, zone: str, advert: Advert) -> None:
        """A probe heard an advert (called on the loop)."""
        visit = self.trackers[zone].see(self.visitor(advert), advert.rssi, advert.at)
        if visit is not None and zone == "store":
            self.conversion.store_entered(visit.visitor, visit.start)

    async def _run(self) -> None:
        retry_at = self._clock() + RETRY_S
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.tick()
                if self._clock() >= retry_at:
                    retry_at = self._clock() + RETRY_S
                    await self.retry_missing()
            except Exception:  # noqa: BLE001 - a storage hiccup must not end the loop
                log.exception("probe service tick failed")

    async def tick(self, now: float | None = None) -> dict[str, Any] | None:
        """End idle visits, decide conversions, write both; at midnight rotate the salt."""
        now = self._clock() if now is None else now
        day = self._day(now)
        if day != self.day:
            return await self._rotate(day)
        ended: list[Visit] = []
        for tracker in self.trackers.values():
            ended += tracker.take_ended() + tracker.close_idle(now)
        return await self._write(self.day, ended, *self._decide(ended, now))

    async def flush(self) -> dict[str, Any] | None:
        """End every open visit now (a replay or a scan finished)."""
        ended = [v for t in self.trackers.values() for v in t.take_ended() + t.close_all()]
        return await self._write(self.day, ended, *self._decide(ended, float("inf")))

    async def retry_missing(self) -> None:
        for coordinator in self.zones.values():
            if not coordinator.running and await coordinator.start(self.on_advert):
                log.info("probe %s: adapter back", coordinator.zone)
            await self._report(coordinator)

    def _decide(self, ended: list[Visit], now: float) -> tuple[int, int]:
        for visit in ended:
            if visit.zone == "pickup":
                self.conversion.pickup_visited(visit)
        return self.conversion.decide(now)

    async def _rotate(self, day: str) -> dict[str, Any] | None:
        ended = [v for t in self.trackers.values() for v in t.take_ended() + t.close_all()]
        converted, decided = self._decide(ended, self._clock())
        decided += self.conversion.give_up()
        result = await self._write(self.day, ended, converted, decided)
        self.day, self._salt = day, secrets.token_bytes(32)
        return result

    async def _write(self, day: str, visits: list[Visit], converted: int,
                     decided: int) -> dict[str, Any] | None:
        if not visits and not decided:
            return None
        return await self.db.write(store.record, day, visits, converted, decided,
                                   self.settings.conversion_window_s)

    async def _report(self, coordinator: ProbeCoordinator) -> None:
        device = coordinator.device
        if device.changes != self._reported[coordinator.zone]:
            self._reported[coordinator.zone] = device.changes
            await self.db.write(record_state, device.name, device.state, device.detail)

    def _day(self, seconds: float) -> str:
        return datetime.fromtimestamp(seconds, self.tz).date().isoformat()
