"""SQL of campaigns (cloud/campaigns): the campaign rows and the visits to them.

A campaign runs from the midnight starting its first day to the midnight ending its last
day, in its time zone (stored as UTC instants). A visit is recorded when it arrives (HQ's
clock): one of an unknown campaign is refused with 404 ``unknown_campaign``, one outside the
campaign's days with 409 ``campaign_not_running``; neither is stored. A visit carrying a
``member`` who exists and granted ``marketing`` is linked to that member (its survivor, if
merged); any other is stored anonymously, under its ``visitor`` id only (the answer is the
same either way: the public route tells nobody whether a member exists or consented). A
visit carrying both links every earlier anonymous visit of that visitor to the member.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.campaigns import attribution
from cloud.db.backend import Backend
from common.clock import iso

DEFAULT_TZ: Final = "Asia/Shanghai"
COLUMNS: Final = ("id", "name", "source", "starts", "ends", "timezone", "starts_at", "ends_at",
                  "cost_cents", "window_days", "landing", "created_at", "updated_at")
_SELECT: Final = f"SELECT {', '.join(COLUMNS)} FROM campaigns"
_CHANGING: Final = COLUMNS[1:-2] + COLUMNS[-1:]  # all but id and created_at
_UPSERT: Final = (f"INSERT INTO campaigns({', '.join(COLUMNS)}) VALUES "
                  f"({', '.join('?' * len(COLUMNS))}) ON CONFLICT (id) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in _CHANGING))


class Refused(Exception):
    """A request the campaign rules refuse: its HTTP status, reason and detail."""

    def __init__(self, status: int, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(422, "invalid_date", {name: "a calendar day, YYYY-MM-DD"}) from None


def row_of(campaign_id: str, body: dict[str, Any], at: str) -> dict[str, Any]:
    """The stored row of a validated body; ``Refused`` 422 for days or a zone that are not."""
    starts, ends = _day(body["starts"], "starts"), _day(body["ends"], "ends")
    if ends < starts:
        raise Refused(422, "ends_before_starts", {"starts": body["starts"],
                                                  "ends": body["ends"]})
    name = str(body.get("timezone") or DEFAULT_TZ)
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refused(422, "unknown_timezone", name[:64]) from None
    first = datetime.combine(starts, time(), zone)
    after = datetime.combine(ends + timedelta(days=1), time(), zone)
    return {"id": campaign_id, "name": body["name"], "source": body["source"],
            "starts": starts.isoformat(), "ends": ends.isoformat(), "timezone": name,
            "starts_at": iso(first), "ends_at": iso(after), "cost_cents": body["cost_cents"],
            "window_days": body["window_days"], "landing": body.get("landing"),
            "created_at": at, "updated_at": at}


def put(db: Backend, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or replace the campaign: (as stored, whether it is new). A new window or cost
    counts from now on: orders attributed before keep their campaign."""
    with db.write():
        new = get(db, row["id"]) is None
        db.execute(_UPSERT, [row[c] for c in COLUMNS])
        stored = get(db, row["id"])
    assert stored is not None
    return stored, new


def get(db: Backend, campaign_id: str) -> dict[str, Any] | None:
    rows = db.rows(f"{_SELECT} WHERE id = ?", (campaign_id,))
    return rows[0] if rows else None


def listing(db: Backend) -> list[dict[str, Any]]:
    return db.rows(f"{_SELECT} ORDER BY starts DESC, id")


def _running(db: Backend, campaign_id: str, at: str) -> dict[str, Any]:
    campaign = get(db, campaign_id)
    if campaign is None:
        raise Refused(404, "unknown_campaign", campaign_id)
    if not campaign["starts_at"] <= at < campaign["ends_at"]:
        raise Refused(409, "campaign_not_running", {"starts": campaign["starts"],
                                                    "ends": campaign["ends"],
                                                    "timezone": campaign["timezone"]})
    return campaign


def track(db: Backend, body: dict[str, Any], at: str) -> dict[str, Any]:
    """Record a visit at ``at`` (see the module's doc); the answer the route gives."""
    with db.write():
        campaign = _running(db, body["campaign"], at)
        member = attribution.consenting(db, body.get("member"))
        visitor = body.get("visitor")
        db.execute("INSERT INTO campaign_visits(campaign, visitor, member, at) "
                   "VALUES (?, ?, ?, ?)", (campaign["id"], visitor, member, at))
        if member is not None and visitor is not None:
            attribution.link(db, visitor, member)
    return {"status": "recorded", "campaign": campaign["id"], "name": campaign["name"],
            "landing": campaign["landing"]}
