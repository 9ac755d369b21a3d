"""The switch of HQ's member fan-out to ``followers`` on PostgreSQL (cloud/members/follow.py):
one ``INSERT … SELECT`` over members, ledger entries, orders and leases, run under every
tenant's member lock (member events wait meanwhile). How long it holds them, against a
baseline in the same run: the same pairs read and written into a table of their own with no
key, no join and no conflict check.

Sizes: ``SWITCH_STORES`` stores (250), ``SWITCH_MEMBERS`` members (100,000),
``SWITCH_ORDERS`` orders (1,000,000 over a year, a quarter of them in the ``SEEN_DAYS`` the
switch reads; 30 % with a member, each of those with a ledger entry).
Run: ``make bench`` or
``.venv/bin/python -m pytest -q -s -p no:randomly tests/bench/test_fanout_switch.py -o addopts=""``.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import psycopg

from cloud.database import CloudDb
from cloud.members.follow import SEEN_DAYS
from common.clock import iso, utc_now
from tests.pg import throwaway_database

from .plumbing import report

STORES = int(os.environ.get("SWITCH_STORES", "250"))
MEMBERS = int(os.environ.get("SWITCH_MEMBERS", "100000"))
ORDERS = int(os.environ.get("SWITCH_ORDERS", "1000000"))
NOW = iso(utc_now())  # the switch looks SEEN_DAYS back from now

FILL = [
    "INSERT INTO stores(store, tenant, created_at) SELECT 's' || lpad(n::text, 5, '0'), 'acme', "
    "%(now)s FROM generate_series(0, %(stores)s - 1) n",
    "INSERT INTO members(id, tenant, origin, created_at, updated_at) SELECT "
    "'M' || lpad(n::text, 25, '0'), 'acme', 's' || lpad((n %% %(stores)s)::text, 5, '0'), "
    "%(now)s, %(now)s FROM generate_series(0, %(members)s - 1) n",
    # 30 % of orders with a member: a regular (its own store) 9 times in 10, else elsewhere
    # over a year: a day each, back from today
    "INSERT INTO orders(store, id, status, total_cents, pickup, created_at, updated_at, seq, "
    "member) SELECT 's' || lpad(s::text, 5, '0'), 'O' || n, 'completed', 1000, 0, "
    "to_char(%(now)s::timestamp - (n %% 365) * interval '1 day', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), %(now)s, n, "
    "CASE WHEN n %% 10 < 3 THEN 'M' || lpad(m::text, 25, '0') END FROM ("
    "SELECT n, (n * 7919) %% %(members)s AS m, CASE WHEN n %% 100 < 9 THEN (n * 31) %% "
    "%(stores)s ELSE ((n * 7919) %% %(members)s) %% %(stores)s END AS s "
    "FROM generate_series(0::bigint, %(orders)s - 1) n) o",
    "INSERT INTO ledger(entry_id, tenant, member, original_member, account, kind, amount, "
    "store, order_id, at, hlc) SELECT 'E' || id, 'acme', member, member, 'points', 'earn', 10, "
    "store, id, created_at, '1790000000000.00000' FROM orders WHERE member IS NOT NULL",
    "ANALYZE",
]
PAIRS = """SELECT DISTINCT s.member, s.store FROM (
    SELECT id AS member, origin AS store FROM members
    UNION SELECT member, store FROM ledger WHERE at >= %(since)s
    UNION SELECT member, store FROM orders WHERE member IS NOT NULL AND created_at >= %(since)s
    UNION SELECT member, store FROM leases) s"""


def test_switching_to_the_followers_fan_out() -> None:
    with throwaway_database("storenode_switch") as url:
        CloudDb.open(url).close()  # the schema
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            for sql in FILL:
                conn.execute(sql, {"now": NOW, "stores": STORES, "members": MEMBERS,
                                   "orders": ORDERS})
            started_base = time.perf_counter()
            since = iso(utc_now() - timedelta(days=SEEN_DAYS))
            conn.execute(f"CREATE TABLE pairs AS {PAIRS}", {"since": since})
            base_s = time.perf_counter() - started_base
            (pairs,) = conn.execute("SELECT count(*) FROM pairs").fetchone()
        fill_s = time.perf_counter() - started
        hq = CloudDb.open(url)
        try:
            started = time.perf_counter()
            done = hq.set_member_fanout("followers")
            switch_s = time.perf_counter() - started
        finally:
            hq.close()
    assert done["followers_added"] == pairs  # every pair once: the tables hold no merged ids
    assert pairs > MEMBERS  # the origins and some visits
    report("switching the member fan-out to followers (PostgreSQL)", [
        ("data", f"{STORES} stores, {MEMBERS} members, {ORDERS} orders "
                 f"({ORDERS * 3 // 10} with a member and a ledger entry); filled in "
                 f"{fill_s:.1f} s"),
        ("followers made", f"{done['followers_added']} (member, store) pairs"),
        ("switch (every tenant's member lock held)", f"{switch_s:.2f} s"),
        ("baseline: the same pairs into a bare table", f"{base_s:.2f} s"),
        ("RATIO switch / baseline", f"{switch_s / base_s:.2f}"),
        ("per million orders", f"{switch_s / (ORDERS / 1e6):.2f} s"),
    ])
