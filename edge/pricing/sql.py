"""The price rules' SQL (docs/pricing.md). Reads run on a reader connection as ``fn(conn, ...)``,
writes on the writer thread as ``fn(tx, ...)``; every change emits ``price_rule.set`` or
``price_rule.deleted`` in its own transaction.

A rule is the store's (``source = 'store'``, set by a manager) or HQ's (``'hq'``, from the
change feed). HQ's rules are changed at HQ: the store's API refuses them (409 ``hq_rule``),
and HQ's change replaces a store rule of the same id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from common.clock import iso, utc_now
from common.errors import Conflict, NotFound
from common.price_rules import check_window, minute_of_week

from edge.db.group_commit import Tx
from common.price_book import RuleBook, unit_price

COLUMNS = "id, rule, source, updated_at"


def _from_row(row: Any) -> dict[str, Any]:
    rule_id, body, source, updated_at = row
    return {"id": rule_id, **json.loads(body), "source": source, "updated_at": updated_at}


def list_rules(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [_from_row(r) for r in conn.execute(f"SELECT {COLUMNS} FROM price_rules ORDER BY id")]


def load_book(conn: sqlite3.Connection | sqlite3.Cursor) -> RuleBook:
    """Every rule of the store, indexed for pricing (cached by the writer, stockcache.py)."""
    return RuleBook((r[0], json.loads(r[1])) for r in conn.execute("SELECT id, rule FROM "
                                                                    "price_rules ORDER BY id"))


def put_rule(tx: Tx, rule_id: str, body: dict[str, Any],
             source: str = "store") -> tuple[dict[str, Any], bool]:
    """Create or replace a rule; ``(rule, created)``. The cache of rules is cleared before
    this job runs (it is not ``@keeps_stock_cache``)."""
    check_window(body)
    found = tx.conn.execute("SELECT source, rule FROM price_rules WHERE id = ?",
                            (rule_id,)).fetchone()
    if found is not None and found[0] == "hq" and source != "hq":
        raise Conflict("hq_rule", {"id": rule_id, "hint": "HQ set this rule: change it at HQ"})
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if found is not None and (found[0], found[1]) == (source, text):
        rule = _from_row(tx.conn.execute(f"SELECT {COLUMNS} FROM price_rules WHERE id = ?",
                                         (rule_id,)).fetchone())
        return rule, False  # the same rule again (HQ's feed replayed): nothing changes
    tx.conn.execute(
        "INSERT INTO price_rules(id, rule, source, updated_at) VALUES (?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET rule = excluded.rule, source = excluded.source, "
        "updated_at = excluded.updated_at", (rule_id, text, source, iso(utc_now())))
    rule = _from_row(tx.conn.execute(f"SELECT {COLUMNS} FROM price_rules WHERE id = ?",
                                     (rule_id,)).fetchone())
    tx.emit("price_rule.set", {"rule": rule})
    return rule, found is None


def delete_rule(tx: Tx, rule_id: str, source: str = "store") -> bool:
    """Delete a rule; False when there was none (HQ's delete is idempotent, the store's
    answers 404 ``unknown_price_rule``)."""
    found = tx.conn.execute("SELECT source FROM price_rules WHERE id = ?", (rule_id,)).fetchone()
    if source == "hq" and (found is None or found[0] != "hq"):
        return False  # HQ deletes only its own rules (a snapshot restates its deletes)
    if found is None:
        raise NotFound("unknown_price_rule", {"id": rule_id})
    if found[0] == "hq" and source != "hq":
        raise Conflict("hq_rule", {"id": rule_id, "hint": "HQ set this rule: change it at HQ"})
    tx.conn.execute("DELETE FROM price_rules WHERE id = ?", (rule_id,))
    tx.emit("price_rule.deleted", {"id": rule_id, "source": found[0]})
    return True


def apply_hq_rule(tx: Tx, data: dict[str, Any]) -> None:
    """HQ's ``price_rule`` change: ``{"id", "rule": {...}}`` sets, ``{"id", "deleted": true}``
    deletes; applying one twice changes nothing."""
    if data.get("deleted"):
        delete_rule(tx, data["id"], "hq")
    else:
        put_rule(tx, data["id"], data["rule"], "hq")


def menu_prices(conn: sqlite3.Connection, items: Iterable[dict[str, Any]], channel: str,
                local_now: datetime) -> list[dict[str, Any]]:
    """``items`` (catalog items) with ``price_now_cents`` and ``price_rule`` added to those a
    rule prices on ``channel`` at the shop-local ``local_now`` (the POS list, the guest menu)."""
    book = load_book(conn)
    listed = list(items)
    if not book:
        return listed
    minute = minute_of_week(local_now)
    for item in listed:
        base = unit_price(item, channel)
        price, rule = book.best(item["sku"], item.get("category"), channel, minute, base)
        if rule is not None:
            item["price_now_cents"], item["price_rule"] = price, rule
    return listed
