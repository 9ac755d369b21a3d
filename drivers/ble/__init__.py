"""BLE probes: a Protocol (``base.Scanner``), bleak on a local adapter, a replay of a field
capture (JSON lines), and a fake. ``make_scanner`` picks one by ``type``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.registry import make

from drivers.ble.base import AdapterMissing, Advert, AdvertCallback, ProbeError, Scanner, signature
from drivers.ble.bleak_scanner import BleakProbe, advert_from_bleak
from drivers.ble.fake import FakeProbe
from drivers.ble.replay import ReplayProbe, capture_line, read_capture

__all__ = ["BACKENDS", "AdapterMissing", "Advert", "AdvertCallback", "BleakProbe", "FakeProbe",
           "ProbeError", "ReplayProbe", "Scanner", "advert_from_bleak", "capture_line",
           "make_scanner", "read_capture", "signature"]

# type -> factory taking the zone's settings
BACKENDS: dict[str, Callable[[dict[str, Any]], Scanner]] = {
    "bleak": lambda o: BleakProbe(o["adapter"]),
    "replay": lambda o: ReplayProbe(Path(o["replay_file"])),
    "fake": lambda o: FakeProbe(),
}


def make_scanner(options: dict[str, Any]) -> Scanner:
    """The scanner for one zone's settings (``type`` chooses the backend)."""
    return make(BACKENDS, options, "probe")
