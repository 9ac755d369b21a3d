"""Pickup-locker boards: a Protocol (``base.LockerBoard``), a KR-CU style RS-485 board over
a serial port or a TCP serial server, and a fake. ``make_board`` picks one by ``type``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.registry import make

from drivers.locker.base import BoardGarbage, BoardTimeout, BoardUnavailable, DoorState, LockerBoard, LockerError, LockRefused
from drivers.locker.board import KrcuBoard, network_board, serial_board
from drivers.locker.fake import FakeBoard

__all__ = ["BACKENDS", "BoardGarbage", "BoardTimeout", "BoardUnavailable", "DoorState",
           "FakeBoard", "KrcuBoard", "LockRefused", "LockerBoard", "LockerError", "make_board"]


def _serial(o: dict[str, Any]) -> LockerBoard:
    return serial_board(o["port"], baudrate=o["baudrate"], address=o["board_address"],
                        compartments=o["compartments"], timeout_s=o["timeout_ms"] / 1000)


def _network(o: dict[str, Any]) -> LockerBoard:
    host, _, port = str(o["host"]).rpartition(":")
    return network_board(host, int(port), address=o["board_address"],
                         compartments=o["compartments"], timeout_s=o["timeout_ms"] / 1000)


def _fake(o: dict[str, Any]) -> LockerBoard:
    return FakeBoard(o["compartments"])


# type -> factory taking the bank's settings
BACKENDS: dict[str, Callable[[dict[str, Any]], LockerBoard]] = {
    "serial": _serial,
    "network": _network,
    "fake": _fake,
}


def make_board(options: dict[str, Any]) -> LockerBoard:
    """The board for one bank's settings (``type`` chooses the backend)."""
    return make(BACKENDS, options, "locker")
