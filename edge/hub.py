"""Fan-out of committed events to WebSocket subscribers, in ``seq`` order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

# event types pushed to LAN clients (members' data never is)
LAN_EVENT_PREFIXES: Final = ("order.", "stock.", "catalog.", "inventory.", "printer.", "print.",
                                "locker.", "table.", "reservation.", "booking.", "waitlist.",
                                "feedback.")
QUEUE_LIMIT: Final = 1000


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False


class EventHub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.last_seq = 0
        self.listeners: list[Callable[[], None]] = []  # told after each commit (sync publisher)

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Called on the loop after a commit, with that commit's events in seq order."""
        for event in events:
            self.last_seq = max(self.last_seq, event["seq"])
            if not event["type"].startswith(LAN_EVENT_PREFIXES):
                continue
            for sub in list(self._subs):
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:  # slow client: it must resume with ?after=
                    sub.overflowed = True
                    self._subs.discard(sub)
        for listener in self.listeners:
            listener()

    @property
    def subscribers(self) -> int:
        return len(self._subs)
