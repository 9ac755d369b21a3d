"""Which box of its store this is (ARCHITECTURE §4e): its epoch, and whether HQ said it was
replaced. A superseded box keeps draining its outbox to HQ (its sales are real) but takes no
new sale: the routes in :data:`SELLING` answer 503 ``box_superseded``, its pages say "this box
was replaced: use the new one", and it applies nothing more from HQ's feed (what it would get
now is meant for the new box: stock the old box's own sales moved, orders to place)."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import Final

from common.clock import iso, utc_now
from common.errors import DomainError

from edge.db.group_commit import Tx
from edge.db.stockcache import keeps_stock_cache

log = logging.getLogger(__name__)

# (method, route path) of what a superseded box refuses: new orders and money movements
SELLING: Final = frozenset({
    ("POST", "/api/v1/orders"), ("POST", "/api/v1/guest/{token}/orders"),
    ("POST", "/api/v1/orders/{id}/payment"), ("POST", "/api/v1/orders/{id}/refund"),
    ("POST", "/api/v1/members/{id}/redeem"), ("POST", "/api/v1/members/{id}/topup"),
})
MESSAGE: Final = "this box was replaced: use the new one"


@dataclass
class Box:
    epoch: int = 1
    superseded_at: str | None = None

    def refuse_sales(self) -> None:
        if self.superseded_at is not None:
            raise DomainError("box_superseded", {"message": MESSAGE, "epoch": self.epoch,
                                                 "since": self.superseded_at}, status=503)


def read(conn: sqlite3.Connection) -> Box:
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN "
                             "('epoch', 'superseded_at')").fetchall())
    return Box(int(rows.get("epoch", 1)), rows.get("superseded_at"))


@keeps_stock_cache
def mark_superseded(tx: Tx) -> str:
    """Record (once) that HQ replaced this box; when it did so, as first recorded."""
    tx.conn.execute("INSERT INTO meta(key, value) VALUES ('superseded_at', ?) "
                    "ON CONFLICT(key) DO NOTHING", (iso(utc_now()),))
    (at,) = tx.conn.execute("SELECT value FROM meta WHERE key = 'superseded_at'").fetchone()
    return str(at)


_SECRET_LINE = re.compile(r"^(\s*password\s*=\s*).*$", re.MULTILINE)


def shareable_config(text: str) -> str:
    """edge.toml as HQ may keep it: every ``password`` blanked (the broker's; the signing
    secret lives in its own file and never leaves the box)."""
    return _SECRET_LINE.sub(r'\1""', text)


@keeps_stock_cache
def record_config(tx: Tx, text: str) -> bool:
    """Send HQ the store's configuration (``config.changed``) when it differs from what was
    sent last; True if it did."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    row = tx.conn.execute("SELECT value FROM meta WHERE key = 'config_sha256'").fetchone()
    if row is not None and row[0] == digest:
        return False
    for key, value in (("config_sha256", digest), ("config_toml", text)):  # toml: for a
        tx.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "  # restore from backup
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
    tx.emit("config.changed", {"toml": text, "sha256": digest})
    return True


def set_epoch(conn: sqlite3.Connection, epoch: int) -> None:
    """A restored box's epoch (storenode restore), before it ever connects."""
    conn.execute("INSERT INTO meta(key, value) VALUES ('epoch', ?) ON CONFLICT(key) "
                 "DO UPDATE SET value = excluded.value", (str(epoch),))
