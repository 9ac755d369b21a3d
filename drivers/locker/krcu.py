"""The KR-CU style RS-485 lock-board frames, encoded and checked (no I/O here).

Every request is 5 bytes ``STX ADDR LOCK CMD BCC``; BCC is the XOR of the 4 bytes before it.

| request | bytes | reply |
|---|---|---|
| open lock n | ``8A addr n 11 bcc`` | ``8A addr n STATE bcc`` |
| read lock n | ``80 addr n 33 bcc`` | ``80 addr n STATE bcc`` |
| read keypad | ``8B addr 00 44 bcc`` | ``8B addr LEN d1..dLEN bcc`` (LEN 0-8 ASCII digits) |

STATE is ``0x11`` when the door is open (lock released) and ``0x00`` when it is closed. The
open and read frames are those of Kerong KR-CU12/CU16 boards (factory default 19200 8N1,
address 0x01); the keypad frame is for boards with a keypad module, which keep the last code
typed until it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.locker.base import BoardGarbage, DoorState

STX_OPEN: Final = 0x8A
STX_READ: Final = 0x80
STX_KEYPAD: Final = 0x8B
CMD_OPEN: Final = 0x11
CMD_READ: Final = 0x33
CMD_KEYPAD: Final = 0x44
DOOR_OPEN: Final = 0x11
DOOR_CLOSED: Final = 0x00
MAX_LOCK: Final = 48
MAX_CODE: Final = 8


def bcc(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def _frame(*fields: int) -> bytes:
    body = bytes(fields)
    return body + bytes([bcc(body)])


def open_request(address: int, lock: int) -> bytes:
    _check_lock(lock)
    return _frame(STX_OPEN, address, lock, CMD_OPEN)


def read_request(address: int, lock: int) -> bytes:
    _check_lock(lock)
    return _frame(STX_READ, address, lock, CMD_READ)


def keypad_request(address: int) -> bytes:
    return _frame(STX_KEYPAD, address, 0, CMD_KEYPAD)


def door_reply(stx: int, address: int, lock: int, door: DoorState) -> bytes:
    """What a board answers to an open or read request (the fake boards use it too)."""
    return _frame(stx, address, lock, DOOR_OPEN if door == "open" else DOOR_CLOSED)


def keypad_reply(address: int, code: str) -> bytes:
    return _frame(STX_KEYPAD, address, len(code), *code.encode("ascii"))


@dataclass(frozen=True)
class Request:
    """A request as a board decodes it."""

    stx: int
    address: int
    lock: int
    cmd: int


def parse_request(frame: bytes) -> Request:
    if len(frame) != 5 or bcc(frame[:4]) != frame[4]:
        raise BoardGarbage(f"bad request frame {frame.hex(' ')}")
    return Request(frame[0], frame[1], frame[2], frame[3])


def parse_door_reply(frame: bytes, stx: int, address: int, lock: int) -> DoorState:
    """The door state in a 5-byte reply, after checking every field and the BCC."""
    if len(frame) != 5:
        raise BoardGarbage(f"reply of {len(frame)} bytes, expected 5: {frame.hex(' ')}")
    if bcc(frame[:4]) != frame[4]:
        raise BoardGarbage(f"bad checksum in reply {frame.hex(' ')}")
    if (frame[0], frame[1], frame[2]) != (stx, address, lock):
        raise BoardGarbage(f"reply {frame.hex(' ')} is not for lock {lock} of board {address}")
    if frame[3] not in (DOOR_OPEN, DOOR_CLOSED):
        raise BoardGarbage(f"unknown door state 0x{frame[3]:02x}")
    return "open" if frame[3] == DOOR_OPEN else "closed"


def parse_keypad_reply(frame: bytes, address: int) -> str:
    if len(frame) < 4 or frame[0] != STX_KEYPAD or frame[1] != address:
        raise BoardGarbage(f"bad keypad reply {frame.hex(' ')}")
    length = frame[2]
    if length > MAX_CODE or len(frame) != 4 + length or bcc(frame[:-1]) != frame[-1]:
        raise BoardGarbage(f"bad keypad reply {frame.hex(' ')}")
    digits = frame[3:3 + length]
    if not digits.isdigit() and length:
        raise BoardGarbage(f"keypad sent non-digits {digits.hex(' ')}")
    return digits.decode("ascii")


def _check_lock(lock: int) -> None:
    if not 1 <= lock <= MAX_LOCK:
        raise ValueError(f"lock number {lock} outside 1..{MAX_LOCK}")
