"""The campaign report (docs/campaigns.md, "The report"): three aggregates over one campaign's
rows, never visits × orders (the attributions were written when the orders came).

- visits, visitors (distinct people: a linked member once, an anonymous visitor id once;
  a visit with neither counts as a visit only) and members (distinct linked members);
- new members: linked members whose account was created at or after their first visit of the
  campaign and at most ``window_days`` after it;
- orders and revenue of the attributed orders that are not cancelled (their status read now),
  by store and by channel.

``roi`` = (revenue − cost) / cost, rounded to 4 places; null when the cost is 0.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cloud.campaigns.sql import get
from cloud.db.backend import Backend
from common.clock import iso

_VISITS = ("SELECT count(*) AS visits, count(DISTINCT CASE WHEN member IS NOT NULL THEN "
           "'m' || member ELSE 'v' || visitor END) AS visitors, count(DISTINCT member) AS "
           "members FROM campaign_visits WHERE campaign = ?{period}")
_NEW_MEMBERS = ("SELECT count(*) FROM (SELECT member, min(at) AS first FROM campaign_visits "
                "WHERE campaign = ? AND member IS NOT NULL{period} GROUP BY member) f "
                "JOIN members m ON m.id = f.member WHERE m.created_at >= f.first AND "
                "{EPOCH_OF}m.created_at{END_EPOCH} <= {EPOCH_OF}f.first{END_EPOCH} + ?")
_ORDERS = ("SELECT o.store, o.channel, count(*) AS orders, sum(o.total_cents) AS revenue "
           "FROM order_attributions a JOIN orders o ON o.store = a.store AND o.id = a.order_id "
           "WHERE a.campaign = ? AND o.status <> 'cancelled'{period} "
           "GROUP BY o.store, o.channel")


def period(campaign: dict[str, Any], since: str | None, until: str | None
           ) -> tuple[str, str] | None:
    """``from``..``to`` (days in the campaign's zone, both inclusive) as UTC instants."""
    if since is None or until is None:
        return None
    zone = ZoneInfo(campaign["timezone"])
    first = datetime.combine(date.fromisoformat(since), time(), zone)
    after = datetime.combine(date.fromisoformat(until) + timedelta(days=1), time(), zone)
    return iso(first), iso(after)


def _add(into: dict[str, dict[str, int]], key: str, orders: int, revenue: int) -> None:
    found = into.setdefault(key, {"orders": 0, "revenue_cents": 0})
    found["orders"] += orders
    found["revenue_cents"] += revenue


def report(db: Backend, campaign_id: str, since: str | None, until: str | None
           ) -> dict[str, Any] | None:
    """The campaign's report over the days ``since``..``until`` or its whole life (None:
    unknown campaign); one read transaction."""
    with db.analytics():
        campaign = get(db, campaign_id)
        if campaign is None:
            return None
        span = period(campaign, since, until)
        doc = _visits(db, campaign, span)
        groups = _orders(db, campaign["id"], span)
    by_store: dict[str, dict[str, int]] = {}
    by_channel: dict[str, dict[str, int]] = {}
    for g in groups:
        orders, revenue = int(g["orders"]), int(g["revenue"] or 0)
        _add(by_store, str(g["store"]), orders, revenue)
        _add(by_channel, str(g["channel"] or "unknown"), orders, revenue)
    revenue, cost = sum(s["revenue_cents"] for s in by_store.values()), campaign["cost_cents"]
    return {
        "campaign": campaign["id"], "name": campaign["name"], "source": campaign["source"],
        "from": span[0] if span else None, "to": span[1] if span else None, **doc,
        "orders": sum(s["orders"] for s in by_store.values()), "revenue_cents": revenue,
        "cost_cents": cost, "roi": round((revenue - cost) / cost, 4) if cost else None,
        "by_channel": dict(sorted(by_channel.items())),
        "by_store": dict(sorted(by_store.items()))}


def _where(column: str, span: tuple[str, str] | None) -> str:
    return f" AND {column} >= ? AND {column} < ?" if span else ""


def _visits(db: Backend, campaign: dict[str, Any], span: tuple[str, str] | None
            ) -> dict[str, int]:
    cid, bounds = campaign["id"], list(span or ())
    found = db.rows(_VISITS.format(period=_where("at", span)), [cid, *bounds])[0]
    (won,) = db.execute(_NEW_MEMBERS.replace("{period}", _where("at", span)),
                        [cid, *bounds, int(campaign["window_days"]) * 86_400]).fetchone()
    return {"visits": int(found["visits"]), "visitors": int(found["visitors"]),
            "members": int(found["members"]), "new_members": int(won)}


def _orders(db: Backend, campaign_id: str, span: tuple[str, str] | None
            ) -> list[dict[str, Any]]:
    return db.rows(_ORDERS.format(period=_where("o.created_at", span)),
                   [campaign_id, *(span or ())])
