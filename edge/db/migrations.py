"""Named schema migrations, applied in order at start-up and recorded in ``_migrations``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from common.clock import utc_now_iso

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
    (
        "0002_members",
        """
        CREATE TABLE members (
            id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            name TEXT,
            birthday TEXT,
            name_hlc TEXT NOT NULL DEFAULT '',
            birthday_hlc TEXT NOT NULL DEFAULT '',
            merged_into TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE member_identities (
            idhash TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            member TEXT NOT NULL,
            last4 TEXT
        ) WITHOUT ROWID;
        CREATE INDEX member_identities_member ON member_identities(member);
        CREATE TABLE member_aliases (alias TEXT PRIMARY KEY, member TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE ledger_entries (
            entry_id TEXT PRIMARY KEY,
            member TEXT NOT NULL,
            account TEXT NOT NULL CHECK (account IN ('points', 'value')),
            kind TEXT NOT NULL,
            amount INTEGER NOT NULL,
            store TEXT NOT NULL,
            order_id TEXT,
            lease_id TEXT,
            at TEXT NOT NULL,
            hlc TEXT NOT NULL
        );
        CREATE INDEX ledger_member ON ledger_entries(member, account, amount);
        CREATE INDEX ledger_lease ON ledger_entries(lease_id, amount) WHERE lease_id IS NOT NULL;
        CREATE TABLE leases (
            lease_id TEXT PRIMARY KEY,
            member TEXT NOT NULL,
            points INTEGER NOT NULL CHECK (points >= 0),
            value INTEGER NOT NULL CHECK (value >= 0),
            per_txn_points INTEGER NOT NULL CHECK (per_txn_points >= 0),
            per_txn_value INTEGER NOT NULL CHECK (per_txn_value >= 0),
            expires_at TEXT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX leases_member ON leases(member, expires_at);
        CREATE TABLE loyalty_rules (id INTEGER PRIMARY KEY CHECK (id = 1), rules TEXT NOT NULL);
        CREATE TABLE coupon_templates (template_id TEXT PRIMARY KEY, data TEXT NOT NULL);
        CREATE TABLE coupons (
            code TEXT PRIMARY KEY,
            template_id TEXT NOT NULL,
            member TEXT,
            issued_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('issued', 'redeemed', 'void')),
            redeemed_at TEXT,
            redeemed_store TEXT,
            order_id TEXT
        );
        CREATE INDEX coupons_member ON coupons(member) WHERE member IS NOT NULL;
        CREATE TABLE reco_pairs (
            a TEXT NOT NULL,
            b TEXT NOT NULL,
            support REAL NOT NULL,
            confidence REAL NOT NULL,
            lift REAL NOT NULL,
            PRIMARY KEY (a, b)
        ) WITHOUT ROWID;
        CREATE TABLE member_requests (
            key TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            answer TEXT NOT NULL,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        ALTER TABLE orders ADD COLUMN discount_cents INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE orders ADD COLUMN coupons TEXT;
        ALTER TABLE orders ADD COLUMN points_earned INTEGER;
        CREATE INDEX orders_member ON orders(member) WHERE member IS NOT NULL;
        """,
    ),
    (
        "0004_lockers_probes",
        """
        CREATE TABLE locker_assignments (
            id INTEGER PRIMARY KEY,
            order_id TEXT NOT NULL,
            bank TEXT,
            compartment INTEGER,
            state TEXT NOT NULL CHECK (state IN
                ('loading', 'active', 'collected', 'expired', 'released', 'with_staff')),
            reason TEXT,
            code_hash TEXT,
            assigned_at TEXT NOT NULL,
            expires_at TEXT,
            closed_at TEXT
        );
        CREATE UNIQUE INDEX locker_assignments_order ON locker_assignments(order_id);
        CREATE UNIQUE INDEX locker_assignments_slot ON locker_assignments(bank, compartment)
            WHERE state IN ('loading', 'active', 'expired');
        CREATE UNIQUE INDEX locker_assignments_code ON locker_assignments(code_hash)
            WHERE state = 'active';
        CREATE INDEX locker_assignments_due ON locker_assignments(state, expires_at);
        CREATE TABLE probe_days (
            day TEXT NOT NULL,
            zone TEXT NOT NULL,
            visits INTEGER NOT NULL DEFAULT 0,
            converted INTEGER NOT NULL DEFAULT 0,
            decided INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, zone)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0003_print_queue",
        """
        CREATE TABLE print_jobs (
            id INTEGER PRIMARY KEY,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('kitchen', 'receipt', 'label')),
            station TEXT,
            printer TEXT,
            routed_to TEXT,
            state TEXT NOT NULL CHECK (state IN
                ('queued', 'sending', 'printed', 'interrupted', 'unrouted')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            reprint_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            printed_at TEXT
        );
        CREATE INDEX print_jobs_queue ON print_jobs(printer, id) WHERE state = 'queued';
        CREATE INDEX print_jobs_order ON print_jobs(order_id);
        CREATE INDEX print_jobs_open ON print_jobs(state) WHERE state <> 'printed';
        INSERT INTO meta(key, value)
            SELECT 'print_cursor', value FROM meta WHERE key = 'outbox_last_seq';
        """,
    ),
    (
        "0005_order_payments",
        """
        CREATE TABLE order_payments (
            order_id TEXT PRIMARY KEY,
            idem_key TEXT NOT NULL UNIQUE,
            request_hash TEXT NOT NULL,
            answer TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        # a day's order number is MAX(number) + 1 over the UNIQUE (day, number) index, taken
        # in the order's INSERT (edge/orders/writes.py): the counter table is no longer read
        "0006_drop_order_counters",
        """
        DROP TABLE order_counters;
        """,
    ),
    (
        "0007_order_refunds",
        """
        CREATE TABLE order_refunds (
            order_id TEXT PRIMARY KEY,
            idem_key TEXT NOT NULL UNIQUE,
            request_hash TEXT NOT NULL,
            answer TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        # each event's JSON up to its data, written with the event (edge/db/outbox.py): the
        # sync layer's batch read splices head || data instead of formatting seven columns
        # per event (a 100k-event catch-up read: 0.44 s -> 0.13 s). NULL for older events,
        # which the reader still formats from the columns.
        "0008_outbox_head",
        """
        ALTER TABLE outbox ADD COLUMN head TEXT;
        """,
    ),
    (
        # the ref of every stock.adjust from HQ applied here: a stock delta is applied once by
        # its ref as well as by its cursor, whatever path brings it (edge/syncer/sql.py)
        "0009_hq_stock_refs",
        """
        CREATE TABLE hq_stock_refs (ref TEXT PRIMARY KEY) WITHOUT ROWID;
        """,
    ),
    (
        # tables, their seatings (sessions) and the guests' calls (edge/tables/); an order
        # placed for a table joins its open session (orders.session_id, set in the INSERT)
        "0010_tables",
        """
        CREATE TABLE dining_tables (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            area TEXT NOT NULL DEFAULT '',
            seats INTEGER NOT NULL CHECK (seats BETWEEN 1 AND 100),
            token TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'free'
                CHECK (status IN ('free', 'seated', 'bill', 'cleaning')),
            created_at TEXT NOT NULL
        );
        CREATE TABLE table_sessions (
            id TEXT PRIMARY KEY,
            table_id TEXT NOT NULL REFERENCES dining_tables(id),
            guests INTEGER,
            opened_at TEXT NOT NULL,
            opened_by TEXT NOT NULL,
            closed_at TEXT
        );
        CREATE UNIQUE INDEX table_sessions_open ON table_sessions(table_id)
            WHERE closed_at IS NULL;
        CREATE TABLE table_calls (
            id INTEGER PRIMARY KEY,
            table_id TEXT NOT NULL,
            session_id TEXT,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            acked_at TEXT
        );
        CREATE INDEX table_calls_open ON table_calls(table_id) WHERE acked_at IS NULL;
        ALTER TABLE orders ADD COLUMN session_id TEXT;
        ALTER TABLE orders ADD COLUMN note TEXT;
        -- covering the guest's open-order count (edge/tables/guest_writes.py): index only
        CREATE INDEX orders_session ON orders(session_id, channel, status)
            WHERE session_id IS NOT NULL;
        """,
    ),
    (
        # time-window price rules (edge/pricing, docs/pricing.md): the rule body as JSON, who
        # set it; the order line names the rule that priced it (NULL: none did)
        "0011_price_rules",
        """
        CREATE TABLE price_rules (
            id TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('store', 'hq')),
            updated_at TEXT NOT NULL
        );
        ALTER TABLE order_lines ADD COLUMN price_rule TEXT;
        """,
    ),
    (
        # a restored box (storenode restore): each day's numbers go on above the last one HQ
        # knew of plus restore.number_gap, so a superseded box's unsynced numbers are not
        # used again; empty on every other box
        "0012_number_floors",
        """
        CREATE TABLE order_number_floors (day TEXT PRIMARY KEY, last INTEGER NOT NULL)
            WITHOUT ROWID;
        """,
    ),
    (
        # a box restored from a local backup under a new epoch (storenode restore
        # --from-backup): the backup's events HQ may not have, kept under their own epoch and
        # seqs and sent up as that superseded box's (edge/syncer/prior.py)
        "0013_outbox_prior",
        """
        CREATE TABLE outbox_prior (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            v INTEGER NOT NULL,
            at TEXT NOT NULL,
            hlc TEXT NOT NULL,
            data TEXT NOT NULL,
            head TEXT
        );
        """,
    ),
    (
        # reservations (edge/reservations/, docs/reservations.md): a row holds its table from
        # starts to ends (UTC epoch minutes) while its status is booked, arrived, seated or
        # leased (capacity leased to HQ); the triggers refuse two holds of one table over
        # overlapping time in the writing transaction itself, whoever writes (durations are at
        # most 720 minutes, which bounds the index range)
        "0014_reservations",
        """
        CREATE TABLE reservations (
            id TEXT PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('booked', 'arrived', 'seated', 'completed',
                'no_show', 'cancelled', 'leased', 'returned')),
            table_id TEXT NOT NULL REFERENCES dining_tables(id),
            starts INTEGER NOT NULL,
            ends INTEGER NOT NULL CHECK (ends > starts AND ends - starts <= 720),
            at_local TEXT NOT NULL,
            day TEXT NOT NULL,
            party INTEGER NOT NULL CHECK (party BETWEEN 1 AND 100),
            duration_min INTEGER NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            member_id TEXT,
            hq_id TEXT UNIQUE,
            lease_id TEXT,
            session_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX reservations_hold ON reservations(table_id, starts)
            WHERE status IN ('booked', 'arrived', 'seated', 'leased');
        CREATE INDEX reservations_day ON reservations(day, starts);
        CREATE INDEX reservations_lease ON reservations(lease_id) WHERE lease_id IS NOT NULL;
        CREATE TRIGGER reservations_no_overlap_insert BEFORE INSERT ON reservations
        WHEN NEW.status IN ('booked', 'arrived', 'seated', 'leased')
        BEGIN
            SELECT RAISE(ABORT, 'no_table') FROM reservations
             WHERE table_id = NEW.table_id
               AND status IN ('booked', 'arrived', 'seated', 'leased')
               AND starts > NEW.starts - 720 AND starts < NEW.ends AND ends > NEW.starts;
        END;
        CREATE TRIGGER reservations_no_overlap_update
        BEFORE UPDATE OF table_id, starts, ends, status ON reservations
        WHEN NEW.status IN ('booked', 'arrived', 'seated', 'leased')
        BEGIN
            SELECT RAISE(ABORT, 'no_table') FROM reservations
             WHERE table_id = NEW.table_id AND id <> NEW.id
               AND status IN ('booked', 'arrived', 'seated', 'leased')
               AND starts > NEW.starts - 720 AND starts < NEW.ends AND ends > NEW.starts;
        END;
        CREATE TABLE reservation_keys (
            key TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            reservation_id TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        # the waitlist (edge/waitlist/, docs/waitlist.md): tickets numbered per queue and
        # shop-local day, the estimate given at issue and the wait that happened; print_jobs
        # rebuilt to take a called number's slip (kind 'waitlist', order_id = the ticket)
        "0015_waitlist",
        """
        CREATE TABLE waitlist (
            id TEXT PRIMARY KEY,
            day TEXT NOT NULL,
            queue TEXT NOT NULL CHECK (queue IN ('A', 'B', 'C')),
            number INTEGER NOT NULL,
            ticket TEXT NOT NULL,
            party INTEGER NOT NULL CHECK (party BETWEEN 1 AND 100),
            phone TEXT,
            token TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL CHECK (source IN ('staff', 'guest')),
            status TEXT NOT NULL CHECK (status IN
                ('waiting', 'called', 'seated', 'skipped', 'cancelled')),
            issued_at TEXT NOT NULL,
            wait_min INTEGER NOT NULL,
            turn_min INTEGER NOT NULL,
            called_at TEXT,
            calls INTEGER NOT NULL DEFAULT 0,
            ended_at TEXT,
            waited_s INTEGER,
            table_id TEXT,
            session_id TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (day, queue, number)
        );
        CREATE INDEX waitlist_open_phone ON waitlist(phone, day)
            WHERE phone IS NOT NULL AND status IN ('waiting', 'called');
        CREATE INDEX table_sessions_closed ON table_sessions(closed_at)
            WHERE closed_at IS NOT NULL;
        CREATE TABLE print_jobs_new (
            id INTEGER PRIMARY KEY,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('kitchen', 'receipt', 'label', 'waitlist')),
            station TEXT,
            printer TEXT,
            routed_to TEXT,
            state TEXT NOT NULL CHECK (state IN
                ('queued', 'sending', 'printed', 'interrupted', 'unrouted')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            reprint_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            printed_at TEXT
        );
        INSERT INTO print_jobs_new SELECT id, order_id, kind, station, printer, routed_to,
            state, attempts, last_error, reprint_by, created_at, updated_at, printed_at
            FROM print_jobs;
        DROP TABLE print_jobs;
        ALTER TABLE print_jobs_new RENAME TO print_jobs;
        CREATE INDEX print_jobs_queue ON print_jobs(printer, id) WHERE state = 'queued';
        CREATE INDEX print_jobs_order ON print_jobs(order_id);
        CREATE INDEX print_jobs_open ON print_jobs(state) WHERE state <> 'printed';
        """,
    ),
    (
        # one rating an order (edge/feedback/): given on the LAN, or at HQ (its feedback.rated)
        "0016_feedback",
        """
        CREATE TABLE feedback (
            order_id TEXT PRIMARY KEY,
            score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
            comment TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL CHECK (source IN ('lan', 'hq')),
            at TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        # scrape keys for /metrics (edge/scrapekeys/): snm_<id>_<secret>, only the key's
        # SHA-256 kept (256 random bits: no KDF needed, common/http/apikeys.py); local to
        # this box, never sent to HQ; revoking keeps the row
        "0017_scrape_keys",
        """
        CREATE TABLE scrape_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT,
            revoked_by TEXT
        );
        """,
    ),
    (
        # identities a till did not know and asked HQ for (member.sought, edge/members/):
        # HQ answers with the member's state, or member.unknown (answered_at); an hour later,
        # or once the identity is a member's here, the row goes
        "0018_member_sought",
        """
        CREATE TABLE member_sought (
            idhash TEXT PRIMARY KEY,
            asked_at TEXT NOT NULL,
            answered_at TEXT
        ) WITHOUT ROWID;
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
