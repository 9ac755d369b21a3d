"""Named migrations of the cloud database, the same SQL for SQLite and PostgreSQL (a statement
that starts with ``POSTGRESQL ONLY`` runs on PostgreSQL alone).

Each runs in its own write transaction and is recorded in ``_migrations``; the backend's
``lock_schema`` makes concurrent start-ups of several workers safe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from cloud.db.backend import Backend, utc_now_iso

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
    ("0002_members", """
    CREATE INDEX orders_by_member ON orders (member);
    CREATE TABLE tenant_keys (
        tenant TEXT PRIMARY KEY,
        key TEXT NOT NULL,                       -- base64 of 32 random bytes
        created_at TEXT NOT NULL
    );
    CREATE TABLE members (
        id TEXT PRIMARY KEY,                     -- ULID: the earlier one survives a merge
        tenant TEXT NOT NULL,
        origin TEXT,
        name TEXT,
        name_hlc TEXT,
        birthday TEXT,
        birthday_hlc TEXT,
        created_at TEXT NOT NULL,
        merged_into TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE member_identities (
        tenant TEXT NOT NULL,
        idhash TEXT NOT NULL,
        kind TEXT NOT NULL,
        last4 TEXT,
        member TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (tenant, idhash)
    );
    CREATE INDEX member_identities_by_member ON member_identities (member);
    CREATE TABLE member_merges (
        id {ID},
        tenant TEXT NOT NULL,
        from_member TEXT NOT NULL UNIQUE,
        into_member TEXT NOT NULL,
        idhash TEXT,
        store TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE ledger (
        entry_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        member TEXT NOT NULL,                    -- re-pointed at the survivor of a merge
        original_member TEXT NOT NULL,
        account TEXT NOT NULL,
        kind TEXT NOT NULL,
        amount BIGINT NOT NULL,
        store TEXT,                              -- NULL: made by HQ
        order_id TEXT,
        lease_id TEXT,
        at TEXT NOT NULL,
        hlc TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX ledger_by_member ON ledger (member, account);
    CREATE INDEX ledger_by_lease ON ledger (lease_id);
    CREATE TABLE leases (
        lease_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        member TEXT NOT NULL,
        store TEXT NOT NULL,
        points BIGINT NOT NULL,
        value BIGINT NOT NULL,
        per_txn_points BIGINT NOT NULL,
        per_txn_value BIGINT NOT NULL,
        granted_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX leases_by_member ON leases (member);
    CREATE TABLE coupon_templates (
        template_id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE coupons (
        code TEXT PRIMARY KEY,
        template_id TEXT NOT NULL,
        member TEXT,
        stores TEXT,                             -- JSON list of stores in scope; NULL: all
        issued_at TEXT NOT NULL,
        state TEXT NOT NULL,
        redeemed_at TEXT,
        redeemed_hlc TEXT,
        redeemed_store TEXT,
        order_id TEXT
    );
    CREATE INDEX coupons_by_member ON coupons (member);
    CREATE TABLE coupon_redemptions (
        code TEXT NOT NULL,
        store TEXT NOT NULL,
        order_id TEXT NOT NULL,
        member TEXT,
        at TEXT NOT NULL,
        hlc TEXT NOT NULL,
        PRIMARY KEY (code, store, order_id)
    );
    CREATE TABLE campaign_rules (
        rule_id TEXT PRIMARY KEY,
        from_store TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE campaign_issues (
        rule_id TEXT NOT NULL,
        store TEXT NOT NULL,
        order_id TEXT NOT NULL,
        code TEXT NOT NULL,
        PRIMARY KEY (rule_id, store, order_id)
    );
    CREATE TABLE member_views (
        id {ID},
        tenant TEXT NOT NULL,
        member TEXT NOT NULL,
        store TEXT NOT NULL,
        skus TEXT NOT NULL,
        at TEXT NOT NULL
    );
    -- member changes queued by a transaction, appended to the stores' feeds right after it
    CREATE TABLE fanout (
        id {ID},
        tenant TEXT NOT NULL,
        type TEXT NOT NULL,
        key TEXT,
        data TEXT NOT NULL,
        stores TEXT,                             -- JSON list; NULL: every store of the tenant
        exclude TEXT,                            -- a store left out (the one that sent it)
        created_at TEXT NOT NULL
    );
    CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE hq_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """),
    ("0003_analytics", """
    -- RFM per surviving member with at least one order (cloud/analytics/sql.py)
    CREATE TABLE member_rfm (
        member TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        store TEXT,                              -- the store of the member's latest order
        recency_days INTEGER NOT NULL,
        frequency BIGINT NOT NULL,               -- orders in the last 365 days
        monetary BIGINT NOT NULL,                -- fen in the last 365 days
        r INTEGER NOT NULL,
        f INTEGER NOT NULL,
        m INTEGER NOT NULL,
        segment TEXT NOT NULL,
        last_order_at TEXT NOT NULL,
        computed_at TEXT NOT NULL
    );
    CREATE INDEX member_rfm_by_segment ON member_rfm (tenant, segment);
    -- what each automation trigger did, once per (trigger, member, period)
    CREATE TABLE automation_runs (
        id {ID},
        trigger_name TEXT NOT NULL,
        member TEXT NOT NULL,
        period TEXT NOT NULL,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,                   -- issued | recorded
        detail TEXT NOT NULL,
        UNIQUE (trigger_name, member, period)
    );
    CREATE INDEX member_views_by_at ON member_views (at);
    CREATE INDEX orders_by_created_at ON orders (created_at)
    """),
    ("0004_scheduler_lease", """
    -- who runs the analytics jobs on SQLite (cloud/jobs/leader.py; PostgreSQL uses an
    -- advisory lock instead)
    CREATE TABLE scheduler_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL               -- epoch ms
    )
    """),
    ("0005_lease_shares", """
    -- leases are amended in place (rev); a smaller amount counts once the store acked it
    ALTER TABLE leases ADD COLUMN rev INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE leases ADD COLUMN acked_rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE leases ADD COLUMN unsettled INTEGER NOT NULL DEFAULT 0;  -- spent in a catch-up
    ALTER TABLE stores ADD COLUMN settle_seq BIGINT;  -- the edge's last seq at its birth
    -- every revision of a lease, its acks and its settlements (cloud/members/leases.py)
    CREATE TABLE lease_log (
        id {ID},
        tenant TEXT NOT NULL,
        member TEXT NOT NULL,
        store TEXT NOT NULL,
        lease_id TEXT NOT NULL,
        rev INTEGER NOT NULL,
        kind TEXT NOT NULL,                      -- granted|grown|shrunk|revoked|acked|settled
        points BIGINT NOT NULL,
        value BIGINT NOT NULL,
        detail TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX lease_log_by_lease ON lease_log (lease_id, rev);
    CREATE INDEX lease_log_by_member ON lease_log (member);
    INSERT INTO lease_log(tenant, member, store, lease_id, rev, kind, points, value, at)
        SELECT tenant, member, store, lease_id, 1, 'granted', points, value, granted_at
        FROM leases
    """),
    ("0006_platform_orders", """
    -- request ids of accepted platform webhooks: a replay is refused (cloud/platforms/sql.py)
    CREATE TABLE platform_requests (
        platform TEXT NOT NULL,
        request_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (platform, request_id)
    );
    -- every platform order forwarded to a store, and what became of it there
    CREATE TABLE platform_orders (
        platform TEXT NOT NULL,
        platform_order_id TEXT NOT NULL,
        store TEXT NOT NULL,
        shop TEXT NOT NULL,
        channel TEXT NOT NULL,
        cursor BIGINT NOT NULL,                  -- the platform.order change in the feed
        order_id TEXT,                           -- the store's order, once it is placed
        status TEXT NOT NULL,                    -- forwarded|placed|accepted|...|rejected
        total_cents BIGINT NOT NULL,             -- what the platform charged
        data TEXT NOT NULL,                      -- the unified order
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (platform, platform_order_id)
    );
    CREATE UNIQUE INDEX platform_orders_by_cursor ON platform_orders (store, cursor);
    CREATE INDEX platform_orders_by_order ON platform_orders (store, order_id);
    -- status callbacks to the platforms, sent and retried by cloud/platforms/callbacks.py
    CREATE TABLE platform_callbacks (
        id {ID},
        platform TEXT NOT NULL,
        platform_order_id TEXT NOT NULL,
        status TEXT NOT NULL,                    -- accepted|ready|cancelled
        reason TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'pending',   -- pending|sent|failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at BIGINT NOT NULL,                 -- epoch ms: due (or claimed until)
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (platform, platform_order_id, status)
    );
    CREATE INDEX platform_callbacks_due ON platform_callbacks (state, next_at);
    -- refused webhooks, for HQ to look at
    CREATE TABLE platform_rejects (
        id {ID},
        platform TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        request_id TEXT,
        at TEXT NOT NULL
    )
    """),
    ("0007_channel_months", """
    -- the channel report per calendar month, as last refreshed (cloud/reports/channels_sql.py)
    CREATE TABLE channel_months (
        month TEXT NOT NULL,                     -- YYYY-MM (UTC)
        store TEXT NOT NULL,
        channel TEXT NOT NULL,
        data TEXT NOT NULL,                      -- the report row (JSON)
        computed_at TEXT NOT NULL,
        PRIMARY KEY (month, store, channel)
    )
    """),
    ("0008_store_weather", """
    -- a store's weather per UTC day, observed or forecast: an input of the demand forecast
    -- (cloud/reports/weather_sql.py, docs/forecast.md)
    CREATE TABLE store_weather (
        store TEXT NOT NULL,
        day TEXT NOT NULL,                       -- YYYY-MM-DD (UTC)
        condition TEXT NOT NULL,                 -- clear, cloudy, rain, snow, storm
        precip_tenths_mm INTEGER,                -- 0.1 mm; NULL: not known
        temp_tenths_c INTEGER,                   -- 0.1 degC; NULL: not known
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store, day)
    )
    """),
    ("0009_order_month_statistics", """
    -- the channel report groups order lines by UTC month (substr(created_at, 1, 7)); without
    -- statistics on that expression PostgreSQL assumes one month per order, gives up parallel
    -- workers and hashing, and took 2x as long over ten million lines (docs/channels.md);
    -- the ANALYZE runs when orders has rows (migrate: statistics of an empty table are a trap)
    POSTGRESQL ONLY CREATE STATISTICS IF NOT EXISTS orders_by_month_stats
        ON (substr(created_at, 1, 7)) FROM orders;
    POSTGRESQL ONLY ANALYZE orders
    """),
    ("0010_store_keepalive", """
    -- the MQTT keepalive (s) the store's last birth stated: HQ marks a store offline when it
    -- does not confirm its presence within 1.5 x it after HQ's (re)connect (cloud/sync/state.py).
    -- NULL: an edge from before rebirth requests, whose births HQ trusts as they come
    ALTER TABLE stores ADD COLUMN keepalive_s INTEGER
    """),
    ("0011_price_rules", """
    -- time-window price rules HQ set (cloud/pricing, docs/pricing.md): the rule body (JSON) and
    -- the stores it was sent to (a JSON list; NULL: every store, and stores added later)
    CREATE TABLE price_rules (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        stores TEXT,
        updated_at TEXT NOT NULL
    )
    """),
    ("0012_guest_relay", """
    -- each store's tables as HQ knows them: the SHA-256 of the table's QR token, never the token
    -- (the store's table.added / table.token_rotated events; cloud/guests)
    CREATE TABLE guest_tables (
        store TEXT NOT NULL,
        table_id TEXT NOT NULL,
        name TEXT NOT NULL,
        token_sha256 TEXT NOT NULL,
        PRIMARY KEY (store, table_id)
    );
    CREATE UNIQUE INDEX guest_tables_by_token ON guest_tables (store, token_sha256);
    -- every guest order HQ relayed to a store (the guest.order change), and its answer there
    CREATE TABLE guest_orders (
        store TEXT NOT NULL,
        token_sha256 TEXT NOT NULL,
        idem_key TEXT NOT NULL,                  -- the guest's Idempotency-Key
        body_sha256 TEXT NOT NULL,
        cursor BIGINT NOT NULL,                  -- the guest.order change in the feed
        order_id TEXT,                           -- the store's order, once placed
        order_data TEXT,                         -- the order as the guest sees it (JSON)
        reason TEXT,                             -- or why the store refused it
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store, token_sha256, idem_key)
    );
    CREATE UNIQUE INDEX guest_orders_by_cursor ON guest_orders (store, cursor)
    """),
    ("0013_store_backups", """
    -- when each store last made a local backup (its backup.done event; cloud/stores)
    ALTER TABLE stores ADD COLUMN last_backup_at TEXT
    """),
    ("0014_box_epochs", """
    -- the box that serves each store now (ARCHITECTURE §4e): `storenode-cloud store replace`
    -- moves it on; stores.applied_seq is that box's, the boxes before keep theirs here
    ALTER TABLE stores ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE store_boxes (
        store TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        username TEXT NOT NULL,                  -- the box's own broker user
        applied_seq BIGINT NOT NULL DEFAULT 0,   -- of a superseded box: what HQ applied of it
        created_at TEXT NOT NULL,
        superseded_at TEXT,
        revoked_at TEXT,                         -- its broker user deleted
        PRIMARY KEY (store, epoch)
    );
    -- what a replacement box needs that no projection keeps: the store's staff (PIN hashes,
    -- never PINs) and its edge.toml without secrets (staff.changed / config.changed events)
    CREATE TABLE store_staff (
        store TEXT NOT NULL,
        staff TEXT NOT NULL,
        role TEXT NOT NULL,
        pin_hash TEXT NOT NULL,
        active INTEGER NOT NULL,
        PRIMARY KEY (store, staff)
    );
    CREATE TABLE store_configs (
        store TEXT PRIMARY KEY,
        toml TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    -- events are (store, epoch, seq): a superseded box's seqs are its own (invariant 7)
    POSTGRESQL ONLY ALTER TABLE events ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;
    POSTGRESQL ONLY ALTER TABLE events DROP CONSTRAINT events_pkey;
    POSTGRESQL ONLY ALTER TABLE events ADD PRIMARY KEY (store, epoch, seq);
    SQLITE ONLY CREATE TABLE events_by_epoch (
        store TEXT NOT NULL,
        seq BIGINT NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        v INTEGER NOT NULL,
        at TEXT NOT NULL,
        hlc TEXT NOT NULL,
        data TEXT NOT NULL,
        epoch INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (store, epoch, seq)
    );
    SQLITE ONLY INSERT INTO events_by_epoch(store, seq, event_id, type, v, at, hlc, data, epoch)
        SELECT store, seq, event_id, type, v, at, hlc, data, 1 FROM events;
    SQLITE ONLY DROP TABLE events;
    SQLITE ONLY ALTER TABLE events_by_epoch RENAME TO events
    """),
    ("0015_backup_catch_up", """
    -- a box restored from a local backup of box N told HQ how far its backup went: the stock
    -- box N's events after that point moved was sent to it once (cloud/stores/boxes.py)
    ALTER TABLE store_boxes ADD COLUMN caught_up_after BIGINT
    """),
    ("0016_store_price_rules", """
    -- every price rule a store applies, its own and HQ's (its price_rule.set / .deleted
    -- events): HQ's guest menu charges what the store will (cloud/guests)
    CREATE TABLE store_price_rules (
        store TEXT NOT NULL,
        id TEXT NOT NULL,
        rule TEXT NOT NULL,
        PRIMARY KEY (store, id)
    );
    -- the time-window price rule that priced the line at the store (NULL: none did)
    ALTER TABLE order_lines ADD COLUMN price_rule TEXT
    """),
    ("0017_reservations", """
    -- every store's reservations (its reservation.* events) and the bookings HQ took for it
    -- (cloud/reservations): id is HQ's id for a booking made at HQ, else the store's
    CREATE TABLE reservations (
        store TEXT NOT NULL,
        id TEXT NOT NULL,
        local_id TEXT,                           -- the store's id of it, once the store has it
        code TEXT,                               -- what the guest quotes at the door
        status TEXT NOT NULL,
        reason TEXT,                             -- why the store rejected it
        table_id TEXT,
        at_local TEXT NOT NULL,                  -- shop-local YYYY-MM-DDTHH:MM
        day TEXT NOT NULL,
        party INTEGER NOT NULL,
        duration_min INTEGER NOT NULL,
        source TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        phone TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        member TEXT,
        scene TEXT,                              -- the dining scene (common/reservations.py)
        slot TEXT,                               -- the leased slot HQ confirmed it on
        idem_key TEXT,                           -- the Idempotency-Key it was made with at HQ
        body_sha256 TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store, id)
    );
    CREATE UNIQUE INDEX reservations_by_key ON reservations (store, idem_key);
    CREATE INDEX reservations_by_day ON reservations (store, day);
    CREATE INDEX reservations_by_member ON reservations (member);
    -- booking capacity each store leased to HQ (its booking.lease events): one row a table
    CREATE TABLE booking_slots (
        store TEXT NOT NULL,
        slot TEXT NOT NULL,
        lease TEXT NOT NULL,
        table_id TEXT NOT NULL,
        seats INTEGER NOT NULL,
        at_local TEXT NOT NULL,
        day TEXT NOT NULL,
        duration_min INTEGER NOT NULL,
        status TEXT NOT NULL,                    -- open, used, returned
        reservation TEXT,
        PRIMARY KEY (store, slot)
    );
    CREATE INDEX booking_slots_by_time ON booking_slots (store, at_local, status);
    -- every store's waitlist tickets (its waitlist.* events): waits and their estimates
    CREATE TABLE waitlist_tickets (
        store TEXT NOT NULL,
        id TEXT NOT NULL,
        ticket TEXT NOT NULL,
        queue TEXT NOT NULL,
        party INTEGER NOT NULL,
        day TEXT NOT NULL,
        source TEXT NOT NULL,
        status TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        wait_min INTEGER,                        -- the estimate the guest was given
        waited_s INTEGER,                        -- issued to called (or seated, if never called)
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store, id)
    );
    CREATE INDEX waitlist_tickets_by_day ON waitlist_tickets (store, day)
    """),
    ("0018_feedback", """
    -- after the visit (cloud/feedback): one rating an order, given on the shop's Wi-Fi (the
    -- store's feedback.given event) or at HQ; day and hour are the store's local ones
    CREATE TABLE feedback (
        store TEXT NOT NULL,
        order_id TEXT NOT NULL,
        score INTEGER NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        member TEXT,
        source TEXT NOT NULL,                    -- lan or hq
        day TEXT NOT NULL,
        local_hour INTEGER NOT NULL,
        at TEXT NOT NULL,
        recovery_coupon TEXT,                    -- the coupon a low score earned, if any
        PRIMARY KEY (store, order_id)
    );
    CREATE INDEX feedback_by_day ON feedback (day, store);
    CREATE TABLE feedback_dishes (
        store TEXT NOT NULL,
        order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        vote INTEGER NOT NULL,                   -- 1 or -1
        PRIMARY KEY (store, order_id, sku)
    );
    -- recovery coupons issued per member and month (the rule's cap)
    CREATE TABLE recovery_coupons (
        member TEXT NOT NULL,
        month TEXT NOT NULL,
        issued INTEGER NOT NULL,
        PRIMARY KEY (member, month)
    )
    """),
    ("0019_consents", """
    -- consent per purpose (cloud/members/consent.py): both purposes are off until granted;
    -- the current state per member and purpose, and every change (who, when, from where)
    CREATE TABLE member_consents (
        member TEXT NOT NULL,
        purpose TEXT NOT NULL,
        granted INTEGER NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (member, purpose)
    );
    CREATE TABLE consent_log (
        id {ID},
        member TEXT NOT NULL,
        purpose TEXT NOT NULL,
        granted INTEGER NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,                    -- hq, till, guest
        store TEXT
    );
    CREATE INDEX consent_log_by_member ON consent_log (member, id)
    """),
    ("0020_erasure", """
    -- a member erased (cloud/members/erasure.py): its id stays, anonymous, for the accounts;
    -- the audit of every erasure (who asked, when, what was removed), without personal data
    ALTER TABLE members ADD COLUMN erased_at TEXT;
    CREATE TABLE erasures (
        id {ID},
        member TEXT NOT NULL,
        ids TEXT NOT NULL,                       -- JSON: the member and those merged into it
        at TEXT NOT NULL,
        by_user TEXT NOT NULL,
        removed TEXT NOT NULL                    -- JSON: rows changed per table
    )
    """),
    ("0021_referrals", """
    -- referrals (cloud/members/referrals.py): one code a member, drawn at random, and one row
    -- a member who joined with a code: pending until its first paid order of the rule's
    -- minimum rewards both (once), or refused with the reason
    CREATE TABLE referral_codes (
        code TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        member TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE referrals (
        referee TEXT PRIMARY KEY,                -- the member who joined with the code
        referrer TEXT,                           -- the code's member (None: unknown code)
        tenant TEXT NOT NULL,
        code TEXT NOT NULL,
        store TEXT NOT NULL,                     -- where the referee joined
        at TEXT NOT NULL,
        status TEXT NOT NULL,                    -- pending, rewarded, refused
        reason TEXT,                             -- why refused: unknown_code, self, loop, not_new
        order_store TEXT,                        -- the order that earned the rewards
        order_id TEXT,
        rewarded_at TEXT,
        referrer_coupon TEXT,
        referee_coupon TEXT
    );
    CREATE INDEX referrals_by_referrer ON referrals (referrer);
    CREATE INDEX referrals_by_store ON referrals (store, at);
    -- the members merged into one (a paid order looks up its member's referral under them)
    CREATE INDEX members_by_merged_into ON members (merged_into) WHERE merged_into IS NOT NULL
    """),
    ("0022_campaigns", """
    -- campaigns (cloud/campaigns): the campaign, its visits (anonymous until linked to a
    -- member who granted marketing) and one attribution an order (last touch, see
    -- cloud/campaigns/attribution.py); times are UTC ISO text like every other
    CREATE TABLE campaigns (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        source TEXT NOT NULL,                    -- cloud/campaigns/schemas.py SOURCES
        starts TEXT NOT NULL,                    -- first day, in the campaign's time zone
        ends TEXT NOT NULL,                      -- last day (inclusive)
        timezone TEXT NOT NULL,
        starts_at TEXT NOT NULL,                 -- UTC: midnight starting the first day
        ends_at TEXT NOT NULL,                   -- UTC: midnight ending the last day
        cost_cents BIGINT NOT NULL,
        window_days INTEGER NOT NULL,
        landing TEXT,                            -- where the landing page sends the guest
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE campaign_visits (
        id {ID},
        campaign TEXT NOT NULL,
        visitor TEXT,                            -- the landing page's random id, if any
        member TEXT,                             -- null: anonymous
        at TEXT NOT NULL
    );
    CREATE INDEX campaign_visits_by_campaign ON campaign_visits (campaign, at);
    CREATE INDEX campaign_visits_by_member ON campaign_visits (member, at);
    CREATE INDEX campaign_visits_by_visitor ON campaign_visits (visitor);
    CREATE TABLE order_attributions (
        store TEXT NOT NULL,
        order_id TEXT NOT NULL,
        campaign TEXT NOT NULL,
        member TEXT NOT NULL,
        visit BIGINT NOT NULL,                   -- the last touch: campaign_visits.id
        visit_at TEXT NOT NULL,
        PRIMARY KEY (store, order_id)
    );
    CREATE INDEX order_attributions_by_campaign ON order_attributions (campaign);
    CREATE INDEX order_attributions_by_member ON order_attributions (member)
    """),
    ("0023_api_keys", """
    -- machine credentials (cloud/apikeys): a key is snk_<id>_<secret>; only the SHA-256 of
    -- the key is kept (the secret is 256 random bits: no KDF needed, see
    -- common/http/apikeys.py); revoking keeps the row: who made it, who revoked it, when
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,                     -- 12 hex digits, shown in lists
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,                    -- JSON list: cloud/apikeys/scopes.py
        secret_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,                -- user:<hq user> or cli:<account>
        last_used_at TEXT,                       -- written at most once a minute
        revoked_at TEXT,
        revoked_by TEXT
    )
    """),
    ("0024_pagination", """
    -- the sort keys of paged lists (cloud/db/keyset.py) that no index followed yet, and the
    -- count of open conflicts that /metrics reads at every scrape; a store's orders by
    -- (created_at, id), which serves every query the index without id served
    CREATE INDEX orders_by_store_created ON orders (store, created_at, id);
    DROP INDEX orders_by_created;
    CREATE INDEX stock_alerts_by_store ON stock_alerts (store, seq, id);
    CREATE INDEX platform_orders_by_created ON platform_orders (created_at, platform,
                                                                platform_order_id);
    CREATE INDEX platform_orders_by_store ON platform_orders (store, created_at, platform,
                                                              platform_order_id);
    CREATE INDEX conflicts_by_resolved ON conflicts (resolved, id);
    CREATE INDEX platform_callbacks_by_state ON platform_callbacks (state, id);
    CREATE INDEX automation_runs_by_trigger ON automation_runs (trigger_name, id);
    CREATE INDEX automation_runs_by_member ON automation_runs (member, id)
    """),
    ("0025_events_partitioned", """
    -- HQ storage that does not grow forever (docs/sync-protocol.md, "Storage at HQ"): every
    -- event row gets the UTC day HQ received it (received_on, set by cloud/sync/apply.py);
    -- the events_retention job archives and removes the days past the retention.
    -- PostgreSQL: events is partitioned by RANGE (received_on), a partition a day made ahead
    -- by the job; the old table becomes the partition of every day up to today (its rows
    -- dated by their `at`), and a DEFAULT partition takes a day the job did not make.
    -- A partitioned table's keys must hold the partition key: (store, epoch, seq) and
    -- event_id stay unique within a day of receipt (exactly-once is stores.applied_seq).
    POSTGRESQL ONLY ALTER TABLE events RENAME TO events_before;
    -- its key is made again by the ATTACH below, with received_on
    POSTGRESQL ONLY ALTER TABLE events_before DROP CONSTRAINT events_pkey;
    POSTGRESQL ONLY ALTER TABLE events_before RENAME CONSTRAINT events_event_id_key
        TO events_before_event_id_key;
    POSTGRESQL ONLY ALTER TABLE events_before ADD COLUMN received_on DATE;
    POSTGRESQL ONLY UPDATE events_before SET received_on = LEAST(
        CASE WHEN at ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN CAST(substr(at, 1, 10) AS DATE) END,
        CAST(now() AT TIME ZONE 'UTC' AS DATE));
    POSTGRESQL ONLY UPDATE events_before SET received_on = CAST(now() AT TIME ZONE 'UTC' AS DATE)
        WHERE received_on IS NULL;
    POSTGRESQL ONLY ALTER TABLE events_before ALTER COLUMN received_on SET NOT NULL;
    POSTGRESQL ONLY CREATE TABLE events (
        LIKE events_before INCLUDING DEFAULTS,   -- its columns, received_on last
        PRIMARY KEY (store, epoch, seq, received_on),
        UNIQUE (event_id, received_on)
    ) PARTITION BY RANGE (received_on);
    POSTGRESQL ONLY ALTER TABLE events ATTACH PARTITION events_before
        FOR VALUES FROM (MINVALUE) TO (CAST(now() AT TIME ZONE 'UTC' AS DATE) + 1);
    POSTGRESQL ONLY CREATE TABLE events_default PARTITION OF events DEFAULT;
    -- SQLite keeps its table (and its keys): the job deletes a past day in chunks
    SQLITE ONLY ALTER TABLE events ADD COLUMN received_on TEXT;
    SQLITE ONLY UPDATE events SET received_on = substr(at, 1, 10);
    SQLITE ONLY CREATE INDEX events_by_received_on ON events (received_on);
    -- what read raw events for all time reads a projection now: a table's area and seats
    -- (a box's restore, cloud/stores/restore.py) and each store's day of probe.conversion
    -- (the last of the day: its running totals, cloud/reports/flows_sql.py)
    ALTER TABLE guest_tables ADD COLUMN area TEXT;
    ALTER TABLE guest_tables ADD COLUMN seats INTEGER;
    SQLITE ONLY UPDATE guest_tables SET
        area = (SELECT json_extract(e.data, '$.area') FROM events e WHERE e.store =
                guest_tables.store AND e.type = 'table.added' AND json_valid(e.data) AND
                json_extract(e.data, '$.table') = guest_tables.table_id
                AND json_type(e.data, '$.area') = 'text' ORDER BY e.epoch DESC, e.seq DESC LIMIT 1),
        seats = (SELECT json_extract(e.data, '$.seats') FROM events e WHERE e.store =
                 guest_tables.store AND e.type = 'table.added' AND json_valid(e.data) AND
                 json_extract(e.data, '$.table') = guest_tables.table_id
                 AND json_type(e.data, '$.seats') = 'integer'
                 ORDER BY e.epoch DESC, e.seq DESC LIMIT 1);
    POSTGRESQL ONLY UPDATE guest_tables g SET
        area = CASE WHEN json_typeof(e.d -> 'area') = 'string' THEN e.d ->> 'area' END,
        seats = CASE WHEN (e.d ->> 'seats') ~ '^[0-9]{1,6}$' THEN CAST(e.d ->> 'seats' AS INTEGER) END
        FROM (SELECT DISTINCT ON (store, CAST(data AS json) ->> 'table') store,
                     CAST(data AS json) ->> 'table' AS table_id, CAST(data AS json) AS d
              FROM events WHERE type = 'table.added'
              ORDER BY store, CAST(data AS json) ->> 'table', epoch DESC, seq DESC) e
        WHERE g.store = e.store AND g.table_id = e.table_id;
    CREATE TABLE probe_days (
        store TEXT NOT NULL,
        day TEXT NOT NULL,                       -- the store's local day of the totals
        seq BIGINT NOT NULL,                     -- of the probe.conversion kept
        data TEXT NOT NULL,                      -- its data
        PRIMARY KEY (store, day)
    );
    SQLITE ONLY INSERT INTO probe_days(store, day, seq, data)
        SELECT store, json_extract(data, '$.day'), seq, data FROM events
        WHERE type = 'probe.conversion' AND json_valid(data)
          AND json_type(data, '$.day') = 'text'
          AND json_type(data, '$.pickup_visitors') = 'integer'
          AND json_type(data, '$.converted') = 'integer'
          AND json_extract(data, '$.pickup_visitors') > 0
        ORDER BY store, seq
        ON CONFLICT (store, day) DO UPDATE SET seq = excluded.seq, data = excluded.data
        WHERE excluded.seq > probe_days.seq;
    POSTGRESQL ONLY INSERT INTO probe_days(store, day, seq, data)
        SELECT DISTINCT ON (store, CAST(data AS json) ->> 'day') store,
               CAST(data AS json) ->> 'day', seq, data FROM events
        WHERE type = 'probe.conversion'
          AND json_typeof(CAST(data AS json) -> 'day') = 'string'
          AND (CAST(data AS json) ->> 'pickup_visitors') ~ '^[0-9]{1,15}$'
          AND (CAST(data AS json) ->> 'converted') ~ '^-{0,1}[0-9]{1,15}$'
          AND CAST(CAST(data AS json) ->> 'pickup_visitors' AS BIGINT) > 0
        ORDER BY store, CAST(data AS json) ->> 'day', seq DESC
    """),
    ("0026_fanout_chunks", """
    -- drained in chunks of stores (cloud/feed/fanout.py): stores <= it have the change
    ALTER TABLE fanout ADD COLUMN done_until TEXT;
    """),
    ("0027_erasure_archives", """
    -- the events_retention job scrubs the archive files of an erasure's ids, then sets these
    -- (NULL: not yet; erasures made before this migration are scrubbed by its next run)
    ALTER TABLE erasures ADD COLUMN archives_scrubbed_at TEXT;
    ALTER TABLE erasures ADD COLUMN archive_lines INTEGER;
    """),
    ("0028_member_followers", """
    -- the stores a member's changes go to when hq_settings 'members.fanout' is 'followers'
    -- (cloud/members/follow.py): where the member was made, looked up, sought or spent
    CREATE TABLE member_followers (
        member TEXT NOT NULL,
        store TEXT NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (member, store)
    );
    CREATE INDEX member_followers_by_store ON member_followers (store);
    """),
    ("0029_member_followers_seen", """
    -- when the store last looked the member up (NULL: not since it followed); the
    -- events_retention job drops followers not seen for storage.followers_retention_days
    ALTER TABLE member_followers ADD COLUMN seen TEXT;
    """),
)
PG_ONLY: Final = "POSTGRESQL ONLY "
_ANALYZE: Final = re.compile(r"ANALYZE (\w+)")
SQLITE_ONLY: Final = "SQLITE ONLY "


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]  # no '--' inside literals
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _for_backend(statement: str, backend: str) -> str | None:
    """The statement as ``backend`` runs it; None when it is another backend's only."""
    for prefix, only in ((PG_ONLY, "postgresql"), (SQLITE_ONLY, "sqlite")):
        if statement.startswith(prefix):
            return statement[len(prefix):] if backend == only else None
    return statement


def _analyzes_an_empty_table(db: Backend, statement: str) -> bool:
    """True for ``ANALYZE t`` while ``t`` has no row: such a statement is skipped.

    Statistics taken of an empty table tell PostgreSQL's planner that it is empty, and a
    prepared statement's generic plan made on them scans the whole table — and keeps scanning
    it as the table grows, until autovacuum analyzes it again; a table never analyzed is
    planned by its size on disk (docs/scale.md, "Plans made on an empty table")."""
    match = _ANALYZE.fullmatch(statement)
    return (match is not None
            and db.execute(f"SELECT 1 FROM {match[1]} LIMIT 1").fetchone() is None)


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
                ours = _for_backend(statement, db.name)
                if ours is not None and not _analyzes_an_empty_table(db, ours):
                    db.execute(ours)
            db.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)",
                       (name, utc_now_iso()))
        ran.append(name)
    return ran


# a key of hq_settings: written by the analytics jobs and the earning rules
UPSERT_SETTING: Final = ("INSERT INTO hq_settings(key, value) VALUES (?, ?) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value")
