"""One coordinator per locker bank: the only code that talks to its board. It turns the
driver's errors into the bank's state (health, metrics, ``device.state_changed``), polls
doors and the keypad, and opens compartments for the service."""

from __future__ import annotations

import logging
from typing import Any

from drivers.locker import LockerBoard, LockerError, make_board

from edge.devicehealth import OK, DeviceState
from edge.lockers.settings import LockerBank

log = logging.getLogger(__name__)


class LockerCoordinator:
    def __init__(self, bank: LockerBank, board: LockerBoard | None = None) -> None:
        self.bank = bank
        self.name = bank.name
        self.device = DeviceState(f"locker:{bank.name}")
        self._board = board
        self.doors: dict[int, str] = {n: "unknown" for n in range(1, bank.compartments + 1)}
        self.opens = 0
        self.device.extra = {"compartments": bank.compartments, "doors_open": 0,
                             "type": bank.options["type"]}

    @property
    def board(self) -> LockerBoard:
        if self._board is None:
            self._board = make_board(self.bank.options)
        return self._board

    @property
    def usable(self) -> bool:
        """Worth offering compartments of: answered last time, or not asked yet."""
        return self.device.state in (OK, "starting")

    async def open(self, n: int) -> None:
        """Open compartment ``n``; a driver error sets the bank's state and is raised."""
        await self._call(self.board.open, n)
        self.doors[n] = "open"
        self.opens += 1

    async def poll(self) -> str | None:
        """Read every door and the keypad once; the code typed, if any. Driver errors only
        change the state (the next poll tries again)."""
        try:
            for n in self.doors:
                self.doors[n] = await self._call(self.board.door, n)
            code = await self._call(self.board.keypad) if self.bank.options["keypad"] else None
        except LockerError:
            return None
        self.device.extra["doors_open"] = sum(d == "open" for d in self.doors.values())
        return code

    def open_doors(self) -> list[int]:
        return [n for n, door in self.doors.items() if door == "open"]

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            result = await fn(*args)
        except LockerError as exc:
            self.device.set(exc.state, str(exc))
            raise
        self.device.set(OK)
        return result

    async def close(self) -> None:
        if self._board is not None:
            try:
                await self._board.close()
            except LockerError as exc:  # closing a dead link: nothing left to do
                log.warning("locker %s: close: %s", self.name, exc)
