"""What order create reads of the catalog and the stock pool, kept on the writer thread.

Placing an order needs, for each SKU, the item's price, station and availability and
its stock level and channel quota: one four-table join per order, the most expensive
statement of an order create. The writer keeps the answers between order creates and
keeps them current itself (the sale's new ``on_hand``, the quota's new ``used``), so a
busy till does not re-read what it just wrote.

It is only trusted while nothing else could have changed those rows:

- any write job not marked ``@keeps_stock_cache`` clears it before it runs (catalog edits,
  stock movements, cancels that restore stock, HQ feed changes, ...);
- a job or a batch that rolls back clears it (its in-memory updates are not on disk);
- every batch checks ``PRAGMA data_version``, which moves when another connection (a
  technician's CLI) committed, and clears it then.

A cleared cache reloads with the join, so a wrong guess here costs a query, never a
wrong answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from common.errors import Conflict, DomainError

if TYPE_CHECKING:  # an annotation only: edge.pricing reaches the database, not the reverse
    from common.price_book import RuleBook

_MAX_SKUS = 20_000  # a catalog is a few hundred SKUs; past this, start over
F = TypeVar("F", bound=Callable[..., Any])


def keeps_stock_cache(fn: F) -> F:
    """Mark a write job that leaves the cache valid: it keeps it current itself (order
    create) or writes no item, stock or quota row (print jobs, sync bookkeeping). Every
    other job clears the cache before it runs (DbWriter._run_job)."""
    setattr(fn, "keeps_stock_cache", True)
    return fn


class StockLevel(NamedTuple):  # a NamedTuple: built for every line of every order, 2x faster
    on_hand: int
    quota_limit: int | None  # None: the channel draws from the whole pool
    quota_used: int


class StockCache:
    __slots__ = ("items", "stock", "quotas", "price_rules", "data_version")

    def __init__(self) -> None:
        # sku -> pricing view {name, category, station, price_cents, channel_prices, available}
        self.items: dict[str, dict[str, Any]] = {}
        # sku -> [on_hand, safety_stock] for stock-tracked SKUs only
        self.stock: dict[str, list[int]] = {}
        # (sku, channel, day) -> [daily_limit or None, used]
        self.quotas: dict[tuple[str, str, str], list[Any]] = {}
        # the time-window price rules (edge/pricing/sql.py load_book); None: not loaded
        self.price_rules: RuleBook | None = None
        self.data_version: int | None = None

    def clear(self) -> None:
        self.items.clear()
        self.stock.clear()
        self.quotas.clear()
        self.price_rules = None

    def check_version(self, conn: sqlite3.Connection) -> None:
        """Drop everything if another connection committed since the last check."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.data_version:
            self.clear()
            self.data_version = version

    def items_and_levels(
        self, cur: sqlite3.Cursor, skus: list[str], channel: str, day: str
    ) -> tuple[dict[str, dict[str, Any]], dict[str, StockLevel]]:
        """Pricing view of each SKU and the stock level of each tracked one; unknown SKUs
        are refused first (422), then unavailable ones (409)."""
        quotas = self.quotas
        missing = [s for s in skus if s not in self.items or (s, channel, day) not in quotas]
        if missing:
            self._load(cur, missing, channel, day)
        items, stock = self.items, self.stock
        unknown = [s for s in skus if s not in items]
        if unknown:
            raise DomainError("unknown_sku", {"skus": unknown})
        unavailable = [s for s in skus if not items[s]["available"]]
        if unavailable:
            raise Conflict("unavailable", {"skus": unavailable})
        levels: dict[str, StockLevel] = {}
        for sku in skus:
            level = stock.get(sku)
            if level is not None:
                limit, used = quotas[(sku, channel, day)]
                levels[sku] = StockLevel(level[0], limit, used)
        return {s: items[s] for s in skus}, levels

    def _load(self, cur: sqlite3.Cursor, skus: list[str], channel: str, day: str) -> None:
        if len(self.items) > _MAX_SKUS or len(self.quotas) > 4 * _MAX_SKUS:
            self.clear()
        rows = cur.execute(
            "SELECT i.sku, i.name, i.category, i.station, i.price_cents, i.channel_prices, "
            "i.available, "
            "s.sku IS NOT NULL AND i.track_stock = 1, s.on_hand, s.safety_stock, "
            "q.daily_limit, COALESCE(u.used, 0) "
            "FROM items i LEFT JOIN stock s ON s.sku = i.sku "
            "LEFT JOIN quotas q ON q.sku = i.sku AND q.channel = ? "
            "LEFT JOIN quota_usage u ON u.sku = i.sku AND u.channel = ? AND u.day = ? "
            f"WHERE i.sku IN ({','.join('?' * len(skus))})",
            (channel, channel, day, *skus),
        ).fetchall()
        for (sku, name, category, station, price, prices_json, available, tracked, on_hand,
             safety, limit, used) in rows:
            self.items[sku] = {"name": name, "category": category, "station": station,
                               "price_cents": price,
                               "channel_prices": json.loads(prices_json),
                               "available": bool(available)}
            if tracked:
                self.stock[sku] = [on_hand, safety]
            else:
                self.stock.pop(sku, None)
            self.quotas[(sku, channel, day)] = [limit, used]

    def sold(self, sku: str, qty: int, channel: str, day: str) -> tuple[int, int]:
        """Record a sale the caller wrote; the SKU's ``(on_hand, safety_stock)`` after it."""
        level = self.stock[sku]
        level[0] -= qty
        quota = self.quotas[(sku, channel, day)]
        if quota[0] is not None:
            quota[1] += qty
        return level[0], level[1]
