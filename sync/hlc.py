"""Hybrid logical clock: timestamps that order events across stores.

An HLC value is ``(physical_ms, counter)``; its string form
``"{physical_ms:013d}.{counter:05d}"`` sorts lexicographically in the same
order as the tuples, so it can be compared as text in SQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def format_hlc(physical_ms: int, counter: int) -> str:
    return f"{physical_ms:013d}.{counter:05d}"


def parse_hlc(value: str) -> tuple[int, int]:
    physical, _, counter = value.partition(".")
    if not physical.isdigit() or not counter.isdigit():
        raise ValueError(f"not an HLC timestamp: {value!r}")
    return int(physical), int(counter)


class HybridLogicalClock:
    """Thread-safe HLC. ``now()`` for local events, ``observe()`` for remote ones."""

    def __init__(self, wall_ms: Callable[[], int] | None = None) -> None:
        self._wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self._physical = 0
        self._counter = 0
        self._lock = threading.Lock()

    def now(self) -> str:
        with self._lock:
            wall = self._wall_ms()
            if wall > self._physical:
                self._physical, self._counter = wall, 0
            else:
                self._counter += 1
            return format_hlc(self._physical, self._counter)

    def observe(self, remote: str) -> str:
        r_phys, r_count = parse_hlc(remote)
        with self._lock:
            wall = self._wall_ms()
            top = max(wall, self._physical, r_phys)
            if top == self._physical == r_phys:
                self._counter = max(self._counter, r_count) + 1
            elif top == self._physical:
                self._counter += 1
            elif top == r_phys:
                self._counter = r_count + 1
            else:
                self._counter = 0
            self._physical = top
            return format_hlc(self._physical, self._counter)
