"""Reservation rules without I/O: statuses and their transitions, default durations, the
shop-local day in UTC minutes (the time rules both services share are in
``common.reservations``).

Times are stored as UTC epoch minutes (``starts``, ``ends``): integers compare and index
cheaply, and a booking's window is half-open, ``[starts, ends)``: a table booked 18:00-19:30
is free again at 19:30.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from common.errors import DomainError
from common.reservations import (BOOK_AHEAD_DAYS as BOOK_AHEAD_DAYS,
                                 MAX_DURATION_MIN as MAX_DURATION_MIN, Window as Window,
                                 check_bookable as check_bookable,
                                 default_duration as default_duration, epoch_min as epoch_min,
                                 from_epoch_min as from_epoch_min, local_window as local_window)

# statuses that hold the table over [starts, ends) (the database's triggers use the same set)
HOLDING: Final = ("booked", "arrived", "seated", "leased")
STATUSES: Final = (*HOLDING, "completed", "no_show", "cancelled", "returned")
# target -> the statuses staff may move a reservation from (ARCHITECTURE §4d)
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "arrived": frozenset({"booked"}),
    "seated": frozenset({"booked", "arrived"}),
    "no_show": frozenset({"booked"}),
    "cancelled": frozenset({"booked", "arrived"}),
}
CODE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH: Final = 6


def new_code() -> str:
    """What the guest quotes at the door: 6 characters nobody misreads."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def check_transition(current: str, target: str) -> None:
    if current not in TRANSITIONS.get(target, frozenset()):
        raise DomainError("invalid_transition", {"from": current, "to": target}, status=409)


def day_bounds(day: str, tz: ZoneInfo) -> tuple[int, int]:
    """UTC minutes of a shop-local day's start and the next day's."""
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    end = (start + timedelta(days=1)).replace(tzinfo=tz)
    return epoch_min(start), epoch_min(end)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


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
