"""The guest's menu: every item at the ``dine_in_qr`` price, sold-out ones marked."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge.catalog.rules import available_for_channel
from edge.db.stockcache import StockLevel
from edge.orders.rules import unit_price

CHANNEL = "dine_in_qr"


def guest_menu(conn: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
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
    return menu
