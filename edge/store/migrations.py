"""Named schema migrations, applied in order at start-up and recorded in ``_migrations``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .clock import utc_now_iso

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "0001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta(key, value) VALUES ('outbox_last_seq', '0'), ('outbox_acked_seq', '0');

        CREATE TABLE items (
            sku TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_en TEXT,
            category TEXT NOT NULL,
            station TEXT NOT NULL,
            price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
            cost_cents INTEGER CHECK (cost_cents >= 0),
            channel_prices TEXT NOT NULL DEFAULT '{}',
            available INTEGER NOT NULL DEFAULT 1,
            track_stock INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE stock (
            sku TEXT PRIMARY KEY REFERENCES items(sku),
            on_hand INTEGER NOT NULL DEFAULT 0,
            safety_stock INTEGER NOT NULL DEFAULT 0 CHECK (safety_stock >= 0)
        );
        CREATE TABLE stock_movements (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL,
            delta INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ref TEXT,
            at TEXT NOT NULL
        );
        CREATE TABLE quotas (
            sku TEXT NOT NULL REFERENCES items(sku),
            channel TEXT NOT NULL,
            daily_limit INTEGER NOT NULL CHECK (daily_limit >= 0),
            PRIMARY KEY (sku, channel)
        );
        CREATE TABLE quota_usage (
            sku TEXT NOT NULL,
            channel TEXT NOT NULL,
            day TEXT NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (sku, channel, day)
        ) WITHOUT ROWID;

        CREATE TABLE orders (
            id TEXT PRIMARY KEY,
            number INTEGER NOT NULL,
            day TEXT NOT NULL,
            channel TEXT NOT NULL,
            status TEXT NOT NULL,
            total_cents INTEGER NOT NULL,
            member TEXT,
            table_no TEXT,
            pickup INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (day, number)
        );
        CREATE INDEX orders_created ON orders(created_at);
        CREATE INDEX orders_status ON orders(status, created_at);
        CREATE TABLE order_lines (
            order_id TEXT NOT NULL REFERENCES orders(id),
            line_no INTEGER NOT NULL,
            sku TEXT NOT NULL,
            name TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            unit_cents INTEGER NOT NULL,
            total_cents INTEGER NOT NULL,
            station TEXT NOT NULL,
            note TEXT,
            PRIMARY KEY (order_id, line_no)
        ) WITHOUT ROWID;
        CREATE TABLE order_counters (day TEXT PRIMARY KEY, last INTEGER NOT NULL);
        CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            order_id TEXT NOT NULL,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            v INTEGER NOT NULL,
            at TEXT NOT NULL,
            hlc TEXT NOT NULL,
            data TEXT NOT NULL
        );

        CREATE TABLE staff (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            pin_hash TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        );
        """,
    ),
)


def applied(conn: sqlite3.Connection) -> list[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]


def pending(conn: sqlite3.Connection) -> list[str]:
    done = set(applied(conn))
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every pending migration, each in its own transaction. Returns their names."""
    done = set(applied(conn))
    ran = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", (name, utc_now_iso())
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        ran.append(name)
    return ran


def _statements(sql: str) -> list[str]:
    parts, buf = [], ""
    for piece in sql.split(";"):
        buf += piece
        if sqlite3.complete_statement(buf + ";"):
            if buf.strip():
                parts.append(buf.strip())
            buf = ""
        else:
            buf += ";"
    return parts
