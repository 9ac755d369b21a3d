"""Named migrations of the cloud database, the same SQL for SQLite and PostgreSQL.

Each runs in its own write transaction and is recorded in ``_migrations``; the backend's
``lock_schema`` makes concurrent start-ups of several workers safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .backend import Backend, utc_now_iso

MIGRATIONS: Final[Sequence[tuple[str, str]]] = (
    ("0001_initial", """
    CREATE TABLE stores (
        store TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        created_at TEXT NOT NULL,
        applied_seq BIGINT NOT NULL DEFAULT 0,   -- every event <= it is committed here
        last_event_at TEXT,                      -- `at` of the newest applied event
        last_seen TEXT,
        online INTEGER NOT NULL DEFAULT 0,
        bd_seq BIGINT NOT NULL DEFAULT 0,
        last_birth TEXT,
        version TEXT,
        paused_channels TEXT NOT NULL DEFAULT '[]',
        down_cursor BIGINT NOT NULL DEFAULT 0,   -- newest change in the store's feed
        edge_cursor BIGINT NOT NULL DEFAULT 0,   -- the cursor the store stated in its birth
        feed_floor BIGINT NOT NULL DEFAULT 0     -- changes <= it were pruned
    );
    CREATE TABLE events (
        store TEXT NOT NULL,
        seq BIGINT NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        v INTEGER NOT NULL,
        at TEXT NOT NULL,
        hlc TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (store, seq)
    );
    CREATE TABLE orders (
        store TEXT NOT NULL,
        id TEXT NOT NULL,
        number INTEGER,
        day TEXT,
        channel TEXT,
        status TEXT NOT NULL,
        total_cents BIGINT NOT NULL,
        member TEXT,
        table_no TEXT,
        pickup INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (store, id)
    );
    CREATE INDEX orders_by_created ON orders (store, created_at);
    CREATE TABLE order_lines (
        store TEXT NOT NULL,
        order_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        name TEXT,
        qty INTEGER NOT NULL,
        unit_cents BIGINT,
        total_cents BIGINT,
        station TEXT,
        note TEXT,
        PRIMARY KEY (store, order_id, line_no)
    );
    CREATE TABLE stock (
        store TEXT NOT NULL,
        sku TEXT NOT NULL,
        on_hand BIGINT NOT NULL,                 -- the sum of every delta, never overwritten
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store, sku)
    );
    CREATE TABLE stock_alerts (
        id {ID},
        store TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sku TEXT NOT NULL,
        on_hand BIGINT,
        safety_stock BIGINT,
        at TEXT NOT NULL
    );
    CREATE TABLE store_items (
        store TEXT NOT NULL,
        sku TEXT NOT NULL,
        item TEXT NOT NULL,
        seq BIGINT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store, sku)
    );
    CREATE TABLE store_quotas (
        store TEXT NOT NULL,
        sku TEXT NOT NULL,
        quotas TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (store, sku)
    );
    -- what HQ sends to every store, including stores added later: latest version per key
    CREATE TABLE hq_catalog (
        kind TEXT NOT NULL,                      -- change type: catalog.item, inventory.quotas
        key TEXT NOT NULL,                       -- the sku
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    -- the latest change of each kind and key sent to a store: what a snapshot is made of
    CREATE TABLE feed_state (
        store TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        data TEXT NOT NULL,
        cursor BIGINT NOT NULL,
        PRIMARY KEY (store, kind, key)
    );
    CREATE TABLE changes (
        store TEXT NOT NULL,
        cursor BIGINT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (store, cursor)
    );
    CREATE TABLE conflicts (
        id {ID},
        store TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        created_at TEXT NOT NULL,
        resolved INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """),
)


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]  # no '--' inside literals
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migrate(db: Backend) -> list[str]:
    """Apply every pending migration in order; the names of those applied now."""
    ran: list[str] = []
    for name, sql in MIGRATIONS:
        with db.write():
            db.lock_schema()
            db.execute("CREATE TABLE IF NOT EXISTS _migrations "
                       "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            for statement in _statements(sql):
                db.execute(statement)
            db.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)",
                       (name, utc_now_iso()))
        ran.append(name)
    return ran
