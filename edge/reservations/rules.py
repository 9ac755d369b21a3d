"""Reservation rules without I/O: statuses and their transitions, default durations, the
shop-local time of a booking in UTC minutes, and the choice of a table.

Times are stored as UTC epoch minutes (``starts``, ``ends``): integers compare and index
cheaply, and a booking's window is half-open, ``[starts, ends)``: a table booked 18:00-19:30
is free again at 19:30.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from common.errors import DomainError

# statuses that hold the table over [starts, ends) (the database's triggers use the same set)
HOLDING: Final = ("booked", "arrived", "seated", "leased")
STATUSES: Final = (*HOLDING, "completed", "no_show", "cancelled", "returned")
SOURCES: Final = ("phone", "walk_in", "mini_program", "platform")
# target -> the statuses staff may move a reservation from (ARCHITECTURE §4d)
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "arrived": frozenset({"booked"}),
    "seated": frozenset({"booked", "arrived"}),
    "no_show": frozenset({"booked"}),
    "cancelled": frozenset({"booked", "arrived"}),
}
# the default duration of a party of up to N guests (minutes); a booking may state its own
DEFAULT_DURATIONS: Final[tuple[tuple[int, int], ...]] = ((2, 90), (4, 105), (8, 120), (100, 150))
MAX_DURATION_MIN: Final = 720  # the schema's bound too
MIN_DURATION_MIN: Final = 15
MAX_PARTY: Final = 100
BOOK_AHEAD_DAYS: Final = 180
GRACE_MIN: Final = 15  # a booking may start up to this long ago (a guest on the phone, late)
LOCAL_AT: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$")
CODE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH: Final = 6


def default_duration(party: int) -> int:
    for up_to, minutes in DEFAULT_DURATIONS:
        if party <= up_to:
            return minutes
    return DEFAULT_DURATIONS[-1][1]


def new_code() -> str:
    """What the guest quotes at the door: 6 characters nobody misreads."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class Window:
    """A booking's time: as the guest said it (shop-local) and in UTC minutes."""

    at_local: str
    day: str
    starts: int
    ends: int

    @property
    def duration_min(self) -> int:
        return self.ends - self.starts


def epoch_min(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def from_epoch_min(minutes: int) -> datetime:
    return datetime.fromtimestamp(minutes * 60, UTC)


def local_window(at_local: str, duration_min: int, tz: ZoneInfo) -> Window:
    """The UTC window of a shop-local ``YYYY-MM-DDTHH:MM``; 422 ``invalid_time`` for a time
    that is not one (a day 31 of February, a time the clocks skip)."""
    if not LOCAL_AT.match(at_local):
        raise DomainError("invalid_time", {"at": at_local[:32], "format": "YYYY-MM-DDTHH:MM"})
    try:
        naive = datetime.fromisoformat(at_local)
    except ValueError:
        raise DomainError("invalid_time", {"at": at_local}) from None
    local = naive.replace(tzinfo=tz)
    back = local.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != naive:  # a local time the clocks jump over
        raise DomainError("invalid_time", {"at": at_local, "reason": "does not exist here"})
    if not MIN_DURATION_MIN <= duration_min <= MAX_DURATION_MIN:
        raise DomainError("invalid_duration", {"duration_min": duration_min,
                                               "min": MIN_DURATION_MIN,
                                               "max": MAX_DURATION_MIN})
    starts = epoch_min(local)
    return Window(at_local, naive.date().isoformat(), starts, starts + duration_min)


def check_bookable(window: Window, now: datetime) -> None:
    """422 ``in_the_past`` / ``too_far_ahead`` for a window a guest cannot be booked into."""
    now_min = epoch_min(now)
    if window.starts < now_min - GRACE_MIN:
        raise DomainError("in_the_past", {"at": window.at_local})
    if window.starts > now_min + BOOK_AHEAD_DAYS * 24 * 60:
        raise DomainError("too_far_ahead", {"at": window.at_local,
                                            "max_days": BOOK_AHEAD_DAYS})


def check_transition(current: str, target: str) -> None:
    if current not in TRANSITIONS.get(target, frozenset()):
        raise DomainError("invalid_transition", {"from": current, "to": target}, status=409)


def local_iso(minutes: int, tz: ZoneInfo) -> str:
    return from_epoch_min(minutes).astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def day_bounds(day: str, tz: ZoneInfo) -> tuple[int, int]:
    """UTC minutes of a shop-local day's start and the next day's."""
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    end = (start + timedelta(days=1)).replace(tzinfo=tz)
    return epoch_min(start), epoch_min(end)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def choose_table(tables: Sequence[Mapping[str, Any]], busy: Mapping[str, Iterable[tuple[int, int]]],
                 party: int, window: tuple[int, int]) -> str | None:
    """The smallest table with enough seats that no hold overlaps (ties: the table id, so
    the choice is the same on every run); None when none fits."""
    fitting = sorted((t for t in tables if int(t["seats"]) >= party),
                     key=lambda t: (int(t["seats"]), str(t["id"])))
    for table in fitting:
        if not any(overlaps(window, hold) for hold in busy.get(str(table["id"]), ())):
            return str(table["id"])
    return None


def public_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A reservation as the API answers it."""
    view = {"id": row["id"], "code": row["code"], "status": row["status"],
            "table": row["table_id"], "at": row["at_local"], "day": row["day"],
            "party": row["party"], "duration_min": row["duration_min"], "name": row["name"],
            "phone": row["phone"], "note": row["note"], "source": row["source"],
            "member": row["member_id"], "session": row["session_id"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}
    if row["hq_id"] is not None:
        view["hq_id"] = row["hq_id"]
    if row["lease_id"] is not None:
        view["lease"] = row["lease_id"]
    return view
