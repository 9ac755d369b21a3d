"""``[lockers.<bank>]`` tables of edge.toml: one table a locker bank."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import validate_tables
from drivers.locker import BACKENDS

BANK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# key -> (type, default); env override STORENODE_LOCKERS_<BANK>_<KEY>
BANK_KEYS: dict[str, tuple[type, Any]] = {
    "type": (str, "fake"),
    "port": (str, ""),
    "host": (str, ""),
    "baudrate": (int, 19200),
    "board_address": (int, 1),
    "compartments": (int, 16),
    "timeout_ms": (int, 500),
    "poll_ms": (int, 1000),
    "hold_s": (int, 1800),
    "keypad": (bool, False),
}
RANGES = {"baudrate": (1200, 921600), "board_address": (0, 255), "compartments": (1, 48),
          "timeout_ms": (50, 10000), "poll_ms": (100, 60000), "hold_s": (1, 86400)}


@dataclass(frozen=True)
class LockerBank:
    name: str
    options: dict[str, Any]  # BANK_KEYS -> value, what drivers.locker.make_board takes

    @property
    def compartments(self) -> int:
        return int(self.options["compartments"])

    @property
    def hold_s(self) -> int:
        return int(self.options["hold_s"])

    @property
    def poll_s(self) -> float:
        return int(self.options["poll_ms"]) / 1000


def parse_banks(path: Path, tables: Any, env: dict[str, str],
                error: type[Exception]) -> tuple[LockerBank, ...]:
    if not isinstance(tables, dict):
        raise error(f"{path}: [lockers] must hold one table per bank, e.g. [lockers.main]")
    for name in tables:
        if not BANK_NAME.match(name):
            raise error(f"{path}: locker bank name {name!r} must match {BANK_NAME.pattern}")
    values = validate_tables(path, tables, env, {name: BANK_KEYS for name in tables},
                             "STORENODE_LOCKERS_", error)
    banks = []
    for name in tables:
        options = {key: values[f"{name}.{key}"] for key in BANK_KEYS}
        where = f"{path}: lockers.{name}"
        keypad = options["keypad"]
        if isinstance(keypad, str):  # from the environment
            keypad = {"1": True, "true": True, "yes": True,
                      "0": False, "false": False, "no": False}.get(keypad.lower(), keypad)
        if not isinstance(keypad, bool):
            raise error(f"{where}.keypad must be true or false")
        options["keypad"] = keypad
        if options["type"] not in BACKENDS:
            raise error(f"{where}.type must be one of {sorted(BACKENDS)}")
        for key, (low, high) in RANGES.items():
            if not low <= options[key] <= high:
                raise error(f"{where}.{key} must be between {low} and {high}")
        if options["type"] == "serial" and not options["port"]:
            raise error(f"{where}.port is required for type serial, e.g. /dev/ttyUSB0")
        if options["type"] == "network" and not re.match(r"^.+:\d{1,5}$", options["host"]):
            raise error(f"{where}.host must be HOST:PORT for type network")
        banks.append(LockerBank(name, options))
    return tuple(banks)
