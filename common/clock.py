"""Time helpers: UTC in storage, shop-local for the daily order number."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_now_iso() -> str:
    return iso(utc_now())


def iso(moment: datetime) -> str:
    """``2026-01-01T12:00:00.000Z``: UTC, milliseconds (truncated)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime's %Y does not pad the year; isoformat would
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"  # half the cost of strftime


def local_day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).date().isoformat()


def age_s(at: str | None, now: datetime | None = None, ndigits: int = 3) -> float | None:
    """Seconds since ``at`` (ISO 8601; without an offset it is UTC), never negative; None when
    ``at`` is empty or not a time."""
    if not at:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(max(0.0, ((now or utc_now()) - moment).total_seconds()), ndigits)
