"""The channel value report (docs/channels.md): per store and channel, revenue, gross margin,
orders, average ticket, new vs returning members, 30/90-day retention and the platform's
commission. Integer cents; ratios in basis points; every division rounds half up.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any, Final

from cloud.reports.settlement import half_up

COLUMNS: Final = (
    "store", "channel", "orders", "revenue_cents", "cost_cents", "gross_margin_cents",
    "margin_bp", "avg_ticket_cents", "members", "new_members", "new_share_bp",
    "returning_share_bp", "cohort", "eligible_30", "retained_30", "retention_30_bp",
    "eligible_90", "retained_90", "retention_90_bp", "to_mini_program",
    "to_mini_program_bp", "commission_bp", "commission_cents",
    "after_commission_cents", "units_without_cost")


def _bp(part: int, whole: int) -> int | None:
    """``part / whole`` in basis points, half away from zero; None when ``whole`` <= 0."""
    if whole <= 0:
        return None
    magnitude = half_up(abs(part) * 10_000, whole)
    return magnitude if part >= 0 else -magnitude


def report(groups: dict[tuple[str, str, str], dict[str, Any]],
           costs: dict[tuple[str, str], int],
           commission_bp: dict[str, int]) -> list[dict[str, Any]]:
    """One row per (bucket, store, channel) with orders, sorted; a row of a monthly bucket
    starts with its ``month``.

    Cost: each SKU's quantity × its ``cost_cents`` at that store. Units of SKUs with no cost
    in the catalog add nothing to the cost and are counted in ``units_without_cost``."""
    rows = []
    for (bucket, store, channel), g in sorted(groups.items()):
        orders, revenue = g.get("orders", 0), g.get("revenue", 0)
        if not orders:
            continue
        cost = sum(q * costs[store, sku] for sku, q in g["qty"].items() if (store, sku) in costs)
        unknown = sum(q for sku, q in g["qty"].items() if (store, sku) not in costs)
        members, new = g.get("members", 0), g.get("new_members", 0)
        rate = commission_bp.get(channel, 0)
        commission = half_up(revenue * rate, 10_000) if revenue > 0 else 0
        margin = revenue - cost
        row = {
            **({"month": bucket} if bucket else {}), "store": store, "channel": channel, "orders": orders, "revenue_cents": revenue,
            "cost_cents": cost, "gross_margin_cents": margin,
            "margin_bp": _bp(margin, revenue),
            "avg_ticket_cents": half_up(revenue, orders) if revenue >= 0 else revenue // orders,
            "members": members, "new_members": new, "new_share_bp": _bp(new, members),
            "returning_share_bp": _bp(members - new, members),
            **{k: g.get(k, 0) for k in ("cohort", "eligible_30", "retained_30", "eligible_90",
                                        "retained_90", "to_mini_program")},
            "retention_30_bp": _bp(g.get("retained_30", 0), g.get("eligible_30", 0)),
            "retention_90_bp": _bp(g.get("retained_90", 0), g.get("eligible_90", 0)),
            "to_mini_program_bp": _bp(g.get("to_mini_program", 0), g.get("cohort", 0)),
            "commission_bp": rate, "commission_cents": commission,
            "after_commission_cents": margin - commission, "units_without_cost": unknown}
        rows.append(row)
    return rows


def recent_months(now: datetime) -> tuple[str, str]:
    """The previous and the current month (``YYYY-MM``) of ``now`` (UTC): what a refresh
    recomputes by default, since stores that were offline send last month's orders late."""
    previous = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return previous, now.strftime("%Y-%m")


def month_range(first: str, last: str) -> tuple[str, str]:
    """``YYYY-MM``..``YYYY-MM`` (inclusive) as stored timestamps [start, end)."""
    from cloud.reports.settlement import month_bounds

    start, _, _ = month_bounds(first)
    _, after, _ = month_bounds(last)
    if first > last:
        raise ValueError("from is after to")
    return f"{start}T00:00:00.000Z", f"{after}T00:00:00.000Z"


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    columns = ("month", *COLUMNS) if rows and "month" in rows[0] else COLUMNS
    writer = csv.DictWriter(out, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: ("" if row[k] is None else row[k]) for k in columns} for row in rows)
    return out.getvalue()
