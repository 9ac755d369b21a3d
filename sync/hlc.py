"""Hybrid logical clock: timestamps that order events across stores.

An HLC value is ``(physical_ms, counter)``; its string form
``"{physical_ms:013d}.{counter:05d}"`` sorts lexicographically in the same
order as the tuples, so it can be compared as text in SQL.

Drift bound: ``observe()`` refuses a remote timestamp more than ``max_drift_ms`` (default
5 minutes) ahead of the local wall clock. Accepting it would move this clock's physical
part to that future time for good (every later ``now()`` follows it), so one peer with a
wrong clock would drag every store's clock with it. A refused timestamp leaves the clock as
it was, is counted in ``drift_rejected`` (exported as a metric) and logged, and raises
:class:`ClockDrift` so the caller can say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_MAX_DRIFT_MS: Final = 300_000


class ClockDrift(ValueError):
    """A remote HLC timestamp too far ahead of the local wall clock to be followed."""

    def __init__(self, remote: str, wall_ms: int, max_drift_ms: int) -> None:
        super().__init__(f"remote HLC {remote} is {parse_hlc(remote)[0] - wall_ms} ms ahead "
                         f"of the local clock (at most {max_drift_ms} ms accepted)")
        self.remote, self.wall_ms, self.max_drift_ms = remote, wall_ms, max_drift_ms


def format_hlc(physical_ms: int, counter: int) -> str:
    return f"{physical_ms:013d}.{counter:05d}"


def parse_hlc(value: str) -> tuple[int, int]:
    physical, _, counter = value.partition(".")
    if not (value.isascii() and physical.isdigit() and counter.isdigit()):  # "²".isdigit()
        raise ValueError(f"not an HLC timestamp: {value!r}")
    return int(physical), int(counter)


class HybridLogicalClock:
    """Thread-safe HLC. ``now()`` for local events, ``observe()`` for remote ones."""

    def __init__(self, wall_ms: Callable[[], int] | None = None,
                 max_drift_ms: int = DEFAULT_MAX_DRIFT_MS) -> None:
        if max_drift_ms <= 0:
            raise ValueError("max_drift_ms must be positive")
        self._wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self.max_drift_ms = max_drift_ms
        self.drift_rejected = 0  # remote timestamps refused by the drift bound
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
        """A timestamp after both ``remote`` and every one given before; ClockDrift (the
        clock unchanged) when ``remote`` is more than ``max_drift_ms`` ahead of wall time."""
        r_phys, r_count = parse_hlc(remote)
        with self._lock:
            wall = self._wall_ms()
            if r_phys > wall + self.max_drift_ms:
                self.drift_rejected += 1
                drift = ClockDrift(remote, wall, self.max_drift_ms)
                log.warning("HLC: refused a remote timestamp: %s", drift)
                raise drift
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
