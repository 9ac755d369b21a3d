"""What a locker bank's control board can do, and how it fails."""

from __future__ import annotations

from typing import Literal, Protocol

DoorState = Literal["open", "closed"]


class LockerError(Exception):
    """The board could not do what was asked. ``state`` names the fault for health."""

    state = "error"


class BoardUnavailable(LockerError):
    """The port or address cannot be opened (unplugged, wrong path, refused)."""

    state = "unavailable"


class BoardTimeout(LockerError):
    """The board did not answer in time."""

    state = "not_answering"


class BoardGarbage(LockerError):
    """The board answered with bytes that are not a valid frame (or a bad checksum)."""

    state = "garbage"


class LockRefused(LockerError):
    """The board answered, but the lock stayed closed."""

    state = "lock_refused"


class LockerBoard(Protocol):
    """One control board driving ``compartments`` locks, numbered from 1."""

    compartments: int

    async def open(self, n: int) -> None:
        """Pulse lock ``n`` open; return once the board confirms it released."""

    async def door(self, n: int) -> DoorState:
        """The door sensor of compartment ``n``."""

    async def keypad(self) -> str | None:
        """The next code typed on the bank's keypad since the last call, if any."""

    async def close(self) -> None:
        """Release the port or connection."""
