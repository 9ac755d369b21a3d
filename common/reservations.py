"""The reservation body both services take (the edge's ``POST /api/v1/reservations`` and
HQ's ``POST /api/v1/stores/{s}/reservations``), the down changes HQ sends a store about its
bookings, and the dining scene HQ reads from a booking (documented in docs/reservations.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from common.errors import DomainError
from common.schemas import ULID_PATTERN

TABLE_ID: Final[dict[str, Any]] = {"type": "string",
                                   "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}(?!\n)$"}
LOCAL_AT: Final[dict[str, Any]] = {
    "type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?!\n)$"}
PARTY: Final[dict[str, Any]] = {"type": "integer", "minimum": 1, "maximum": 100}
DURATION: Final[dict[str, Any]] = {"type": "integer", "minimum": 15, "maximum": 720}
NAME: Final[dict[str, Any]] = {"type": "string", "maxLength": 60}
PHONE: Final[dict[str, Any]] = {"type": "string", "minLength": 3, "maxLength": 32}
NOTE: Final[dict[str, Any]] = {"type": "string", "maxLength": 300}
SOURCES: Final = ("phone", "walk_in", "mini_program", "platform")

# the default duration of a party of up to N guests (minutes); a booking may state its own
DEFAULT_DURATIONS: Final[tuple[tuple[int, int], ...]] = ((2, 90), (4, 105), (8, 120), (100, 150))
MAX_DURATION_MIN: Final = 720  # the schema's bound too
MIN_DURATION_MIN: Final = 15
MAX_PARTY: Final = 100
BOOK_AHEAD_DAYS: Final = 180
GRACE_MIN: Final = 15  # a booking may start up to this long ago (a guest on the phone, late)
LOCAL_AT_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$")


def default_duration(party: int) -> int:
    for up_to, minutes in DEFAULT_DURATIONS:
        if party <= up_to:
            return minutes
    return DEFAULT_DURATIONS[-1][1]


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
    if not LOCAL_AT_RE.match(at_local):
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



RESERVATION: Final[dict[str, Any]] = {
    "type": "object", "required": ["party", "at"], "additionalProperties": False,
    "properties": {"name": NAME, "phone": PHONE, "party": PARTY, "at": LOCAL_AT,
                   "duration_min": DURATION, "table": TABLE_ID, "note": NOTE,
                   "source": {"type": "string", "enum": list(SOURCES)}},
}
_HQ_ID: Final[dict[str, Any]] = {"type": "string", "pattern": ULID_PATTERN}
_BOOKING: Final[dict[str, Any]] = {
    "id": _HQ_ID, "name": NAME, "phone": {"type": ["string", "null"], "maxLength": 32},
    "party": PARTY, "at": LOCAL_AT, "duration_min": DURATION, "note": NOTE,
    "source": {"type": "string", "enum": list(SOURCES)},
    "member": {"type": ["string", "null"], "pattern": ULID_PATTERN}}
# down changes: a booking HQ confirmed on a leased slot; one HQ asks the store to decide;
# slots of a lease HQ gives back; a booking the guest cancelled through HQ
CHANGES: Final[dict[str, dict[str, Any]]] = {
    "reservation.confirmed": {"type": "object", "required": ["id", "slot", "party", "at",
                                                             "duration_min"],
                              "properties": {**_BOOKING, "slot": _HQ_ID}},
    "reservation.request": {"type": "object", "required": ["id", "party", "at"],
                            "properties": _BOOKING},
    "booking.lease_released": {"type": "object", "required": ["lease", "slots"], "properties": {
        "lease": _HQ_ID, "slots": {"type": "array", "maxItems": 200, "items": _HQ_ID}}},
    "reservation.cancel": {"type": "object", "required": ["id"], "properties": {"id": _HQ_ID}},
}

# -- the dining scene of a booking -----------------------------------------------------------
SCENES: Final = ("solo", "couple", "business", "family", "friends")
_FAMILY = re.compile(r"kid|child|baby|high ?chair|family|grand|儿童|孩子|宝宝|小孩|家庭|"
                     r"老人|婴儿|家宴", re.IGNORECASE)
_BUSINESS = re.compile(r"business|client|meeting|invoice|company|商务|客户|会议|发票|公司|"
                       r"宴请|接待", re.IGNORECASE)


def dining_scene(party: int, local_hour: int, weekday: int, note: str = "") -> str:
    """The scene of a booking, by these rules in this order (``weekday`` is ISO, 1 = Monday):

    1. party 1 → ``solo``;
    2. a note naming children, family or elders → ``family``;
    3. a note naming business, clients, a meeting or an invoice → ``business``;
    4. party 2 → ``couple``;
    5. party 3-8 on a weekday (Monday-Friday) at lunch (11:00-14:59) → ``business``;
    6. party 3 or more on a Saturday or Sunday → ``family``;
    7. otherwise ``friends``.
    """
    if party <= 1:
        return "solo"
    if _FAMILY.search(note):
        return "family"
    if _BUSINESS.search(note):
        return "business"
    if party == 2:
        return "couple"
    if party <= 8 and weekday <= 5 and 11 <= local_hour < 15:
        return "business"
    if weekday >= 6:
        return "family"
    return "friends"
