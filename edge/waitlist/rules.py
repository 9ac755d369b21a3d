"""Waitlist rules without I/O: queues by party size, ticket numbers, the status machine, the
table-turn time of a size class and the wait estimate given to a guest (docs/waitlist.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Final

from common.schemas import TABLE_TOKEN

TOKEN: Final = TABLE_TOKEN  # secrets.token_urlsafe(24): 192 bits
TOKEN_BYTES: Final = 24
ID: Final = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # a ULID
MAX_PARTY: Final = 100


@dataclass(frozen=True)
class Queue:
    """A size class: parties of ``low``..``high`` guests wait in it (``high`` None: and more)."""

    name: str
    low: int
    high: int | None
    default_turn_min: int  # the turn time used while fewer than MIN_SAMPLES were measured

    def holds(self, party: int) -> bool:
        return self.low <= party and (self.high is None or party <= self.high)

    def fits(self, seats: int) -> bool:
        """A table the class is seated at: enough seats, and not more than twice its
        largest party (a couple is not given the ten-seat room)."""
        return self.low <= seats and (self.high is None or seats <= 2 * self.high)

    @property
    def parties(self) -> str:
        return f"{self.low}-{self.high}" if self.high is not None else f"{self.low}+"


QUEUES: Final = (Queue("A", 1, 2, 45), Queue("B", 3, 4, 60), Queue("C", 5, None, 90))
BY_NAME: Final = {q.name: q for q in QUEUES}
STATUSES: Final = ("waiting", "called", "seated", "skipped", "cancelled")
OPEN: Final = frozenset({"waiting", "called"})
# status -> the statuses staff may move a ticket to ("called" again: call once more)
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "waiting": frozenset({"called", "seated", "skipped", "cancelled"}),
    "called": frozenset({"called", "seated", "skipped", "cancelled"}),
}
TARGETS: Final = ("called", "seated", "skipped", "cancelled")
WAITED: Final = frozenset({"called", "seated"})  # transitions that end the wait (the first one)

# turn times: closed seatings of the class, the latest TURN_SAMPLES within TURN_DAYS
TURN_SAMPLES: Final = 50
TURN_DAYS: Final = 28
MIN_SAMPLES: Final = 5
MAX_OPEN_PER_PHONE: Final = 1  # open tickets (waiting or called) one phone may hold
GUEST_TICKETS_PER_MIN: Final = 6  # guest tickets per client address and minute
UNKNOWN_TOKENS_PER_MIN: Final = 30  # per client address: a guessing flood costs it
RECENT_CALLS: Final = 5  # called numbers a board shows per queue


def queue_for(party: int) -> Queue:
    """The size class of a party (1..MAX_PARTY)."""
    for queue in QUEUES:
        if queue.holds(party):
            return queue
    raise ValueError(f"party {party} fits no queue")


def ticket_label(queue: str, number: int) -> str:
    """``A001``..``A999``, then ``A1000``: numbers restart every shop-local day."""
    return f"{queue}{number:03d}"


def may_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Turn:
    """The table-turn time used for a class: the median of measured seatings, or the
    class's default when fewer than MIN_SAMPLES were measured."""

    minutes: int
    samples: int
    source: str  # "measured" | "default"


def turn_time(queue: Queue, seatings_min: Sequence[float]) -> Turn:
    """``seatings_min``: the durations (minutes) of the class's latest closed seatings."""
    if len(seatings_min) < MIN_SAMPLES:
        return Turn(queue.default_turn_min, len(seatings_min), "default")
    return Turn(max(1, round(median(seatings_min))), len(seatings_min), "measured")


def estimate_wait(ahead: int, fitting_tables: int, free_tables: int, turn_min: int) -> int:
    """Minutes until a new ticket is called: the first ``free_tables`` parties in the queue
    sit at once; after them the ``fitting_tables`` turn over every ``turn_min`` minutes, so
    the party behind ``ahead`` others waits ``ceil((ahead + 1 - free) / fitting)`` turns."""
    if ahead < free_tables:
        return 0
    tables = max(1, fitting_tables)
    return math.ceil((ahead + 1 - free_tables) / tables) * turn_min


def waited_s(issued_at: float, at: float) -> int:
    """Seconds from issue to the call (or the seating), never negative."""
    return max(0, int(at - issued_at))
