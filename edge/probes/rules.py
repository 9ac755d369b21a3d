"""Foot-traffic rules: visits from advert sightings, and pickup-to-store conversion.

Pure: times are seconds (the adverts' own timeline), visitors are opaque pseudonyms.

- A *sighting* counts only at or above the zone's RSSI threshold (near enough).
- A *visit* is a run of sightings of one visitor with no silence longer than ``gap_s``; it
  counts once it has lasted ``min_dwell_s`` (passers-by do not).
- *Conversion*: a counted pickup visit converts when the same visitor's counted store visit
  starts between the pickup visit's start and ``window_s`` after its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

STORE_ENTRIES_KEPT: Final = 8  # per visitor, for matching against pickup visits


@dataclass
class Visit:
    zone: str
    visitor: str
    start: float
    end: float
    peak_rssi: int
    counted: bool = False  # reached min_dwell_s

    @property
    def dwell_s(self) -> float:
        return self.end - self.start


class VisitTracker:
    """Open visits of one zone."""

    def __init__(self, zone: str, rssi_threshold: int, min_dwell_s: float, gap_s: float) -> None:
        self.zone, self.rssi_threshold = zone, rssi_threshold
        self.min_dwell_s, self.gap_s = min_dwell_s, gap_s
        self.open: dict[str, Visit] = {}
        self._ended: list[Visit] = []  # counted visits ended by the visitor's return

    def see(self, visitor: str, rssi: int, at: float) -> Visit | None:
        """Record a sighting; the visit when this sighting made it count (once per visit)."""
        if rssi < self.rssi_threshold:
            return None
        visit = self.open.get(visitor)
        if visit is not None and at - visit.end > self.gap_s:
            visit = None  # the old one ended; close_idle reports it
        if visit is None:
            self._retire(visitor)
            visit = self.open[visitor] = Visit(self.zone, visitor, at, at, rssi)
        visit.end = max(visit.end, at)
        visit.peak_rssi = max(visit.peak_rssi, rssi)
        if not visit.counted and visit.dwell_s >= self.min_dwell_s:
            visit.counted = True
            return visit
        return None

    def close_idle(self, now: float) -> list[Visit]:
        """End visits silent for more than ``gap_s``; the counted ones among them."""
        idle = [v for v in self.open.values() if now - v.end > self.gap_s]
        for visit in idle:
            del self.open[visit.visitor]
        return [v for v in idle if v.counted]

    def close_all(self) -> list[Visit]:
        ended = [v for v in self.open.values() if v.counted]
        self.open.clear()
        return ended

    def _retire(self, visitor: str) -> None:
        old = self.open.pop(visitor, None)
        if old is not None and old.counted:
            self._ended.append(old)

    def take_ended(self) -> list[Visit]:
        """Counted visits that ended because the visitor came back after a gap."""
        ended, self._ended = self._ended, []
        return ended


@dataclass
class Conversion:
    """Matches counted pickup visits with later store entries of the same visitor."""

    window_s: float
    pending: dict[str, list[Visit]] = field(default_factory=dict)
    store_entries: dict[str, list[float]] = field(default_factory=dict)

    def store_entered(self, visitor: str, start: float) -> None:
        entries = self.store_entries.setdefault(visitor, [])
        entries.append(start)
        del entries[:-STORE_ENTRIES_KEPT]

    def pickup_visited(self, visit: Visit) -> None:
        self.pending.setdefault(visit.visitor, []).append(visit)

    def decide(self, now: float) -> tuple[int, int]:
        """``(converted, decided)``: pickup visits decided now — converted as soon as a
        matching store entry is known, not converted once their window has passed."""
        converted = decided = 0
        for visitor in list(self.pending):
            entries = self.store_entries.get(visitor, [])
            still = []
            for visit in self.pending[visitor]:
                if any(visit.start <= e <= visit.end + self.window_s for e in entries):
                    converted += 1
                    decided += 1
                elif now > visit.end + self.window_s:
                    decided += 1
                else:
                    still.append(visit)
            if still:
                self.pending[visitor] = still
            else:
                del self.pending[visitor]
        horizon = now - 2 * self.window_s
        for visitor in list(self.store_entries):
            kept = [e for e in self.store_entries[visitor] if e >= horizon]
            if kept:
                self.store_entries[visitor] = kept
            else:
                del self.store_entries[visitor]
        return converted, decided

    def give_up(self) -> int:
        """Decide every pending visit as not converted (the day's pseudonyms are gone)."""
        count = sum(len(v) for v in self.pending.values())
        self.pending.clear()
        self.store_entries.clear()
        return count
