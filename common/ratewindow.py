"""A sliding-window rate limit per key, without I/O: the caller passes the time, so it is
tested without a clock. Used by the guest routes at the edge and at HQ."""

from __future__ import annotations

from collections import deque

IDLE_SWEEP_AT = 4096  # keys held before idle ones are dropped


class RateWindow:
    """At most ``limit`` hits per key in any ``window_s`` seconds (a sliding log per key).
    Keys idle for a window are dropped, so a flood of keys cannot grow it beyond what one
    window saw."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > IDLE_SWEEP_AT:
            self._forget_idle(now)
        return True

    def retry_after(self, key: str, now: float) -> int:
        hits = self._hits.get(key)
        if not hits:
            return 0
        return max(1, int(hits[0] + self.window_s - now + 0.999))

    def __len__(self) -> int:
        return len(self._hits)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window_s]:
            del self._hits[key]
