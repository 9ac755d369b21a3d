"""The lockers of one store: assigns ready orders to compartments, opens by code or for
staff, expires unclaimed orders back to staff, and reports each bank's state.

Assignment is two writer jobs around the door opening: ``reserve`` (the race for a
compartment is decided on the writer thread), then ``activate`` once the door opened for
loading (pickup code, ``locker.assigned``) or ``to_staff`` when the board failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from common.errors import DomainError, NotFound
from drivers.locker import LockerError

from edge.devicehealth import record_state
from edge.lockers import rules
from edge.db.database import Database
from edge.lockers import sql as store
from edge.lockers.coordinator import LockerCoordinator

log = logging.getLogger(__name__)
MAX_BAD_CODES = 5  # wrong codes per bank within BAD_CODE_WINDOW_S before codes are ignored
BAD_CODE_WINDOW_S = 60.0


class LockerUnavailable(DomainError):
    status = 503


class LockerService:
    def __init__(self, db: Database, coordinators: list[LockerCoordinator], secret: bytes) -> None:
        self.db = db
        self.banks = {c.name: c for c in coordinators}
        self._key = rules.code_key(secret)
        self._wake = asyncio.Event()
        self._reported: dict[str, int] = {c.name: 0 for c in coordinators}
        self._bad_codes: dict[str, list[float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        await self.db.write(store.abandon_loading)
        self._task = asyncio.create_task(self._run(), name="storenode-lockers")

    async def stop(self) -> None:
        self._stopping = True  # even if a cancellation is lost, the loop ends
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for coordinator in self.banks.values():
            await coordinator.close()

    def wake(self) -> None:
        """After a commit (EventHub listener): look for newly ready orders now."""
        self._wake.set()

    async def _run(self) -> None:
        interval = min(c.bank.poll_s for c in self.banks.values())
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while not self._stopping:
            poll = loop.time() >= next_poll  # a commit's wake-up only assigns
            if poll:
                next_poll = loop.time() + interval
            try:
                await self.tick(poll)
            except Exception:  # noqa: BLE001 - a storage hiccup must not end the loop
                log.exception("locker service tick failed")
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives as the wake-up does, and stop() would wait for ever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_poll - loop.time())):
                    await self._wake.wait()
            self._wake.clear()

    async def tick(self, poll: bool = True) -> None:
        """One round: poll each board (doors, keypad), expire, assign waiting orders."""
        for coordinator in self.banks.values() if poll else ():
            code = await coordinator.poll()
            await self._report(coordinator)
            if code is not None:
                with contextlib.suppress(DomainError):
                    await self.open_by_code(code, coordinator.name, by="keypad")
        if poll and await self.db.read(store.expiry_due):
            await self.db.write(store.expire_due)
        for order_id in await self.db.read(store.waiting_orders):
            await self.assign(order_id)

    # -- what staff, customers and the CLI do -----------------------------
    async def assign(self, order_id: str) -> dict[str, Any] | None:
        usable = [c for c in self.banks.values() if c.usable]
        offline = next((c.device.state for c in self.banks.values() if not c.usable), None)
        reserved = await self.db.write(
            store.reserve, order_id,
            [(c.name, c.bank.compartments, c.open_doors()) for c in usable], offline)
        if reserved is None or reserved["state"] != "loading":
            return reserved
        coordinator = self.banks[reserved["bank"]]
        try:
            await coordinator.open(reserved["compartment"])
        except LockerError as exc:
            await self._report(coordinator)
            return await self.db.write(store.to_staff, order_id, reserved["number"],
                                       exc.state, None, reserved["id"])
        await self._report(coordinator)
        return await self.db.write(store.activate, reserved["id"], self._key,
                                   coordinator.bank.hold_s)

    async def open_by_code(self, code: str, bank: str | None = None,
                           by: str = "code") -> dict[str, Any]:
        """Open the compartment holding the order with this pickup code (it is collected)."""
        if bank is not None and bank not in self.banks:
            raise NotFound("unknown_bank", {"bank": bank})
        where = bank or "*"
        recent = [t for t in self._bad_codes.get(where, []) if time.monotonic() - t < BAD_CODE_WINDOW_S]
        self._bad_codes[where] = recent
        if len(recent) >= MAX_BAD_CODES:
            raise DomainError("too_many_attempts", {"retry_after_s": int(BAD_CODE_WINDOW_S)}, 429)
        found = None
        if rules.valid_code(code):
            found = await self.db.read(store.find_by_code, rules.code_digest(self._key, code),
                                       bank)
        if found is None:
            recent.append(time.monotonic())
            raise NotFound("unknown_code", None)
        return await self._open(found["bank"], found["compartment"], by, release=False)

    async def staff_open(self, bank: str, n: int, release: bool) -> dict[str, Any]:
        coordinator = self.banks.get(bank)
        if coordinator is None:
            raise NotFound("unknown_bank", {"bank": bank, "banks": sorted(self.banks)})
        if not 1 <= n <= coordinator.bank.compartments:
            raise NotFound("unknown_compartment",
                           {"bank": bank, "compartments": coordinator.bank.compartments})
        return await self._open(bank, n, "staff", release)

    async def _open(self, bank: str, n: int, by: str, release: bool) -> dict[str, Any]:
        coordinator = self.banks[bank]
        try:
            await coordinator.open(n)
        except LockerError as exc:
            await self._report(coordinator)
            raise LockerUnavailable("locker_unavailable",
                                    {"bank": bank, "state": exc.state, "detail": str(exc)}) from exc
        await self._report(coordinator)
        return await self.db.write(store.opened, bank, n, by, release)

    async def overview(self) -> dict[str, Any]:
        assignments = await self.db.read(store.overview)
        return {"banks": {name: {**c.device.as_dict(), "doors": c.doors}
                          for name, c in self.banks.items()},
                "assignments": assignments}

    async def _report(self, coordinator: LockerCoordinator) -> None:
        device = coordinator.device
        if device.changes != self._reported[coordinator.name]:
            self._reported[coordinator.name] = device.changes
            await self.db.write(record_state, device.name, device.state, device.detail)

