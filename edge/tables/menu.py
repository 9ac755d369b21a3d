"""The guest's menu: every item at the ``dine_in_qr`` price after the time-window price rules
(docs/pricing.md), sold-out ones marked."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from edge.catalog.rules import available_for_channel
from edge.db.stockcache import StockLevel
from edge.orders.rules import unit_price
from edge.pricing.sql import menu_prices

CHANNEL = "dine_in_qr"


def guest_menu(conn: sqlite3.Connection, day: str,
               local_now: datetime | None = None) -> list[dict[str, Any]]:
    """``local_now``: the shop-local time the price rules are read at (None: no rules)."""
    rows = conn.execute(
        "SELECT i.sku, i.name, i.name_en, i.category, i.price_cents, i.channel_prices, "
        "i.available, s.on_hand, i.track_stock = 1 AND s.sku IS NOT NULL AS tracked, "
        "q.daily_limit, COALESCE(u.used, 0) AS used "
        "FROM items i LEFT JOIN stock s ON s.sku = i.sku "
        "LEFT JOIN quotas q ON q.sku = i.sku AND q.channel = ? "
        "LEFT JOIN quota_usage u ON u.sku = i.sku AND u.channel = ? AND u.day = ? "
        "ORDER BY i.category, i.sku", (CHANNEL, CHANNEL, day)).fetchall()
    menu = []
    for r in rows:
        item = {"price_cents": r["price_cents"], "channel_prices": json.loads(r["channel_prices"])}
        left = (available_for_channel(StockLevel(r["on_hand"], r["daily_limit"], r["used"]))
                if r["tracked"] else None)
        menu.append({"sku": r["sku"], "name": r["name"], "name_en": r["name_en"],
                     "category": r["category"], "price_cents": unit_price(item, CHANNEL),
                     "available": bool(r["available"]) and left != 0})
    if local_now is not None:  # the price a rule charges now, and the rule's id
        for item in menu_prices(conn, menu, CHANNEL, local_now):
            if "price_now_cents" in item:
                item["price_cents"] = item.pop("price_now_cents")
    return menu
