"""Last-touch attribution of orders to campaigns (docs/campaigns.md, "Attribution").

An order (any channel, any store) of a member who granted ``marketing`` is attributed to the
campaign of the member's latest visit at or before the order's ``created_at`` that lies
within that campaign's ``window_days`` (a visit exactly ``window_days`` × 24 h before the
order still counts). Two visits at the same instant: the one recorded later (the higher
visit id) wins. One row per order in ``order_attributions``, written when HQ projects the
order (``attribute``, in the batch's transaction) or when earlier visits are linked to the
member (``link``); the report then only adds rows up.

Consent: every writer here first reads the member's ``marketing`` row with ``FOR UPDATE``
(PostgreSQL), and a withdrawal updates that row before ``forget`` deletes the member's
attributions, so an order projected while consent is withdrawn is either attributed and
then deleted, or sees the withdrawal: no attribution outlives it. A merge re-points visits
and attributions to the survivor (cloud/members/sql.py ``MEMBER_COLUMNS``); the callers
pass survivors.

This module reads the members' tables but imports nothing from ``cloud.members``: that
package calls in here (orders, consent, erasure, export, journey).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cloud.campaigns.schemas import MAX_WINDOW_DAYS
from cloud.db.backend import Backend
from common.clock import iso

MARKETING: Final = "marketing"  # the consent purpose attribution needs (common.consent)
LIMIT: Final = 500  # visits in an export or a journey
_SURVIVOR: Final = (  # the member a merge kept (the same walk as cloud.members.sql.resolve)
    "WITH RECURSIVE chain(id, next, depth) AS (SELECT id, merged_into, 0 FROM members "
    "WHERE id = ? UNION ALL SELECT m.id, m.merged_into, c.depth + 1 FROM chain c JOIN "
    "members m ON m.id = c.next WHERE c.depth < 32) SELECT id FROM chain WHERE next IS NULL")
_TOUCHES: Final = (
    "SELECT v.id, v.campaign, v.at, c.window_days FROM campaign_visits v JOIN campaigns c "
    "ON c.id = v.campaign WHERE v.member = ? AND v.at <= ? AND v.at >= ? "
    "ORDER BY v.at DESC, v.id DESC")
_UPSERT: Final = (
    "INSERT INTO order_attributions(store, order_id, campaign, member, visit, visit_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (store, order_id) DO UPDATE SET "
    "campaign = excluded.campaign, member = excluded.member, visit = excluded.visit, "
    "visit_at = excluded.visit_at")


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _marketing(db: Backend, member: str) -> bool:
    """Whether ``member`` granted marketing; its consent row stays locked (PostgreSQL)."""
    row = db.execute("SELECT granted FROM member_consents WHERE member = ? AND purpose = ?"
                     "{FOR_UPDATE}", (member, MARKETING)).fetchone()
    return row is not None and bool(row[0])


def consenting(db: Backend, member: str | None) -> str | None:
    """The survivor of ``member`` if it exists and granted marketing, else None."""
    if member is None:
        return None
    row = db.execute(_SURVIVOR, (member,)).fetchone()
    return str(row[0]) if row is not None and _marketing(db, str(row[0])) else None


def last_touch(db: Backend, member: str, created: datetime) -> tuple[int, str, str] | None:
    """(visit id, campaign, visit at) of the visit the order is attributed to, or None."""
    oldest = created - timedelta(days=MAX_WINDOW_DAYS)
    for visit, campaign, at, window in db.execute(_TOUCHES, (member, iso(created),
                                                             iso(oldest))).fetchall():
        moment = _moment(at)
        if moment is not None and moment >= created - timedelta(days=int(window)):
            return int(visit), str(campaign), str(at)
    return None


def _attribute(db: Backend, store: str, order_id: str, member: str,
               created: datetime) -> str | None:
    touch = last_touch(db, member, created)
    if touch is None:
        return None
    visit, campaign, at = touch
    db.execute(_UPSERT, (store, order_id, campaign, member, visit, at))
    return campaign


def attribute(db: Backend, store: str | None, order_id: Any, member: str, created_at: Any
              ) -> str | None:
    """An order HQ projects, of ``member`` (a survivor): its campaign, if any (stored)."""
    created = _moment(created_at)
    if store is None or not isinstance(order_id, str) or created is None or not _marketing(
            db, member):
        return None
    return _attribute(db, store, order_id, member, created)


def link(db: Backend, visitor: str, member: str) -> int:
    """Link the visitor's anonymous visits to ``member`` (who granted marketing: the caller
    checked, with the row locked) and attribute again the member's orders since the first
    of them. The visits linked."""
    (first,) = db.execute("SELECT min(at) FROM campaign_visits WHERE visitor = ? AND "
                          "member IS NULL", (visitor,)).fetchone()
    if first is None:
        return 0
    linked = int(db.execute("UPDATE campaign_visits SET member = ? WHERE visitor = ? AND "
                            "member IS NULL", (member, visitor)).rowcount)
    for store, order_id, created_at in db.execute(
            "SELECT store, id, created_at FROM orders WHERE member = ? AND created_at >= ?",
            (member, first)).fetchall():
        created = _moment(created_at)
        if created is not None:
            _attribute(db, str(store), str(order_id), member, created)
    return linked


def forget(db: Backend, ids: list[str], erase: bool = False) -> dict[str, int]:
    """Marketing withdrawn (or the member erased): delete the attributions of ``ids`` and
    unlink their visits, which then count as anonymous visits. ``erase``: the visitor ids
    the members' visits carried are cleared too, wherever they appear. Rows changed per
    table."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    attributions = db.execute(f"DELETE FROM order_attributions WHERE member IN ({marks})",
                              ids).rowcount
    visitors = [r[0] for r in db.execute(
        f"SELECT DISTINCT visitor FROM campaign_visits WHERE member IN ({marks}) AND "
        f"visitor IS NOT NULL", ids).fetchall()] if erase else []
    cleared = ", visitor = NULL" if erase else ""
    visits = db.execute(f"UPDATE campaign_visits SET member = NULL{cleared} WHERE member IN "
                        f"({marks})", ids).rowcount
    for n in range(0, len(visitors), 500):  # the same visitor's anonymous visits
        chunk = visitors[n:n + 500]
        visits += db.execute(f"UPDATE campaign_visits SET visitor = NULL WHERE visitor IN "
                             f"({','.join('?' * len(chunk))})", chunk).rowcount
    return {"order_attributions": int(attributions), "campaign_visits": int(visits)}


def visits_of(db: Backend, ids: list[str]) -> list[dict[str, Any]]:
    """The visits linked to ``ids``, newest first (export and journey)."""
    marks = ",".join("?" * len(ids))
    return db.rows(f"SELECT v.id, v.campaign, c.name, c.source, v.at FROM campaign_visits v "
                   f"JOIN campaigns c ON c.id = v.campaign WHERE v.member IN ({marks}) "
                   f"ORDER BY v.at DESC, v.id DESC LIMIT {LIMIT}", ids)


def attributions_of(db: Backend, ids: list[str]) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(ids))
    return db.rows(f"SELECT store, order_id, campaign, visit, visit_at FROM order_attributions "
                   f"WHERE member IN ({marks}) ORDER BY visit_at DESC", ids)
