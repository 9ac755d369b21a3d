"""Cursor pagination of HQ's lists (docs/hq-api.md#pagination), on SQLite and PostgreSQL: every
row once and in order across pages while rows are added between them, the old answer (a bare
list) kept when no cursor is asked for, garbled cursors and limits refused with 400, and the
queries walking an index (EXPLAIN)."""

from __future__ import annotations

import base64
import itertools
import json
import random
import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.api.paging import encode
from cloud.database import CloudDb
from cloud.db.keyset import Column, Keyset, where
from cloud.stores.sql import CONFLICTS, ORDERS, STORES
from tests.cloud.sync.sim import EdgeSim
from tests.conftest import Api

PAGED = ("/api/v1/stores", "/api/v1/stores/s1/orders", "/api/v1/stores/s1/stock-alerts",
         "/api/v1/conflicts", "/api/v1/erasures", "/api/v1/platforms/orders",
         "/api/v1/platforms/callbacks", "/api/v1/platforms/rejects", "/api/v1/automation/runs")


class TiedSim(EdgeSim):
    """Orders in threes with one ``created_at``: the id alone tells them apart."""

    def _at(self) -> str:
        n = len(self.events) // 3
        return f"{self.day}T{10 + n // 60:02d}:{n % 60:02d}:00.000Z"


async def placed(runner: Any, sim: EdgeSim, n: int) -> None:
    """``n`` more orders of ``sim``'s store, applied at HQ."""
    first = len(sim.events) + 1
    for _ in range(n):
        sim.order()
    ack = await runner.call(CloudDb.apply_batch, "acme", sim.store,
                            sim.payload(first, len(sim.events)))
    assert ack.kind == "applied", ack


def add_conflicts(db: CloudDb, n: int) -> None:
    with db._lock, db._db.write():
        for i in range(n):
            db._db.execute("INSERT INTO conflicts(store, kind, detail, created_at) "
                           "VALUES ('s1', 'coupon', ?, '2026-11-23T10:00:00.000Z')",
                           (json.dumps({"n": i}),))


def add_alerts(db: CloudDb, seqs: list[int]) -> None:
    with db._lock, db._db.write():
        for seq in seqs:
            db._db.execute("INSERT INTO stock_alerts(store, seq, sku, on_hand, safety_stock, at) "
                           "VALUES ('s1', ?, 'C001', 1, 5, '2026-11-23T10:00:00.000Z')", (seq,))


async def page_through(api: Api, path: str, limit: int, between: Any = None) -> list[Any]:
    """Every item of ``path`` a page of ``limit`` at a time, following ``next``; ``between()``
    runs after each page."""
    found: list[Any] = []
    cursor = ""
    sep = "&" if "?" in path else "?"
    for _ in range(1000):
        status, body = await api.get(f"{path}{sep}limit={limit}&cursor={cursor}")
        assert status == 200, body
        assert set(body) == {"items", "next"} and len(body["items"]) <= limit
        found += body["items"]
        if body["next"] is None:
            return found
        cursor = body["next"]
        if between is not None:
            await between()
    raise AssertionError("no last page")


async def test_orders_page_newest_first_each_once_while_new_orders_arrive(
        hq: TestClient, admin: Api) -> None:
    runner, sim = hq.app[keys.DB], TiedSim("s1")
    await placed(runner, sim, 23)
    expected = [o["id"] for o in await runner.call(CloudDb.store_orders, "s1", None, 1000)]
    assert len(expected) == 23

    async def newer_order() -> None:  # the next order, placed later than all the others
        await placed(runner, sim, 1)

    seen = await page_through(admin, "/api/v1/stores/s1/orders", 4, newer_order)
    ids = [o["id"] for o in seen]
    assert ids == expected  # newest first, each once: the ones placed meanwhile come before
    assert all(o["lines"] for o in seen)
    keys_ = [(o["created_at"], o["id"]) for o in seen]
    assert keys_ == sorted(keys_, reverse=True) and len(set(keys_)) == len(keys_)
    # ?since still applies, page by page
    since = seen[10]["created_at"]
    tail = await page_through(admin, f"/api/v1/stores/s1/orders?since={since}", 5)
    assert [o["id"] for o in tail] == [o["id"] for o in await runner.call(
        CloudDb.store_orders, "s1", since, 1000)]


async def test_without_cursor_the_answer_is_the_list_with_the_next_page_in_headers(
        hq: TestClient, admin: Api) -> None:
    runner = hq.app[keys.DB]
    await placed(runner, EdgeSim("s1"), 5)
    auth = {"Authorization": f"Bearer {admin.token}"}
    resp = await hq.get("/api/v1/stores/s1/orders?limit=3&since=2026-01-01", headers=auth)
    first = await resp.json()
    assert resp.status == 200 and isinstance(first, list) and len(first) == 3
    cursor = resp.headers["X-Next-Cursor"]
    link = resp.headers["Link"]
    assert link.startswith("</api/v1/stores/s1/orders?") and link.endswith('>; rel="next"')
    assert f"cursor={cursor}" in link and "since=2026-01-01" in link and "limit=3" in link
    resp = await hq.get(link[1:link.index(">")], headers=auth)
    second = await resp.json()
    assert second["next"] is None and "X-Next-Cursor" not in resp.headers
    assert "Link" not in resp.headers
    assert [o["id"] for o in first + second["items"]] == [
        o["id"] for o in await runner.call(CloudDb.store_orders, "s1", None, 10)]
    # the old form, no limit and no cursor: the list, whole when it fits one page
    status, stores = await admin.get("/api/v1/stores")
    assert status == 200 and [s["store"] for s in stores] == ["s1", "s2"]
    resp = await hq.get("/api/v1/stores", headers=auth)
    assert "X-Next-Cursor" not in resp.headers


async def test_conflicts_oldest_first_pick_up_the_ones_recorded_between_pages(
        hq: TestClient, admin: Api) -> None:
    runner = hq.app[keys.DB]
    await runner.call(add_conflicts, 7)

    async def two_more() -> None:
        await runner.call(add_conflicts, 2)

    seen = await page_through(admin, "/api/v1/conflicts?resolved=false", 3, two_more)
    ids = [c["id"] for c in seen]
    everything = [c["id"] for c in await runner.call(CloudDb.conflicts)]
    assert ids == everything and len(set(ids)) == len(ids)  # each once, in order
    assert len(ids) >= 7 + 2 * 2
    await runner.call(CloudDb.resolve_conflict, ids[0])
    status, open_ = await admin.get("/api/v1/conflicts?resolved=false&limit=2&cursor=")
    assert status == 200 and [c["id"] for c in open_["items"]] == ids[1:3]


async def test_stores_and_stock_alerts_page_with_a_tie_breaker(hq: TestClient,
                                                               admin: Api) -> None:
    runner = hq.app[keys.DB]
    for n in range(7):
        await runner.call(CloudDb.add_store, f"x{n}", "acme")
    names = [s["store"] for s in await page_through(admin, "/api/v1/stores", 2)]
    assert names == sorted(["s1", "s2", *(f"x{n}" for n in range(7))])
    await runner.call(add_alerts, [4, 4, 4, 9, 2, 9, 4])  # one sale, several alerts
    alerts = await page_through(admin, "/api/v1/stores/s1/stock-alerts", 2)
    assert [a["seq"] for a in alerts] == [2, 4, 4, 4, 4, 9, 9]
    assert "id" not in alerts[0]  # the tie-breaker stays out of the answer, as before
    status, body = await admin.get("/api/v1/stores/nowhere/stock-alerts")
    assert (status, body["error"]) == (404, "unknown_store")


@pytest.mark.parametrize("directions", list(itertools.product((False, True), repeat=3)))
def test_after_a_key_comes_exactly_the_rest_of_the_order(directions: tuple[bool, ...]) -> None:
    keyset = Keyset("t", tuple(Column(name, kind, descending=d) for name, kind, d in
                               zip(("a", "b", "c"), (str, int, int), directions, strict=True)))
    rows = {(random.choice("xyz"), random.randrange(3), n) for n in range(60)}
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a TEXT, b INTEGER, c INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)

    def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple((-ord(v) if isinstance(v, str) else -v) if d else
                     (ord(v) if isinstance(v, str) else v) for v, d in zip(row, directions))

    ordered = sorted(rows, key=sort_key)
    assert conn.execute(f"SELECT a, b, c FROM t ORDER BY {keyset.order_by}").fetchall() == ordered
    for i, row in enumerate(ordered):
        conditions, params = keyset.after(row)
        found = conn.execute(f"SELECT a, b, c FROM t{where(conditions)} "
                             f"ORDER BY {keyset.order_by}", params).fetchall()
        assert found == ordered[i + 1:], (row, conditions)
    conn.close()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBLED = (
    "!!!", "a", "%00", _b64(b"not json"), _b64(b'{"a":1}'), _b64(b"[]"), _b64(b'["stores"]'),
    encode(CONFLICTS, (1,)),  # another list's cursor
    _b64(b'["stores",1]'), _b64(b'["stores","s1","s2"]'), _b64(b'["stores",null]'),
    _b64(b'["stores","s\\u0000"]'), _b64(b'["stores","\\ud800"]'), _b64(b'["stores",true]'),
    _b64(json.dumps(["stores", "x" * 129]).encode()), "A" * 700, "é",
)


@pytest.mark.parametrize("cursor", GARBLED)
async def test_a_garbled_or_foreign_cursor_is_400(admin: Api, cursor: str) -> None:
    status, body = await admin.get(f"/api/v1/stores?cursor={cursor}")
    assert (status, body["error"]) == (400, "bad_cursor"), body


async def test_every_paged_list_refuses_bad_cursors_and_limits(admin: Api) -> None:
    huge = [_b64(json.dumps([tag, *values]).encode()) for tag, values in (
        ("orders", [2**70, "x"]), ("conflicts", [2**63]), ("conflicts", [-1]),
        ("erasures", [1.5]), ("automation_runs", ["1"]))]
    for path in PAGED:
        foreign = encode(ORDERS, ("a", "b")) if path == "/api/v1/stores" \
            else encode(STORES, ("s1",))
        for cursor in ("garbage", foreign, *huge):
            status, body = await admin.get(f"{path}?cursor={cursor}")
            assert (status, body["error"]) == (400, "bad_cursor"), (path, cursor, body)
        for limit in ("0", "1001", "-1", "abc", "1.5", "", "١"):
            status, body = await admin.get(f"{path}?limit={limit}")
            assert (status, body["error"]) == (400, "bad_query"), (path, limit, body)
        status, body = await admin.get(f"{path}?limit=1000&cursor=")
        assert status == 200 and body["next"] is None, (path, body)


PAGES = (  # a page after a key of each list, as its handler reads it
    (CloudDb.list_stores, ("s1",), 3),
    (CloudDb.store_orders, "s1", None, 3, ("2026-11-23T10:00:00.000Z", "01J")),
    (CloudDb.store_orders, "s1", "2026-11-01T00:00:00.000Z", 3, ("2026-11-23T10:00:00.000Z", "0")),
    (CloudDb.stock_alerts, "s1", (4, 10), 3),
    (CloudDb.conflicts, None, (5,), 3),
    (CloudDb.conflicts, False, (5,), 3),
    (CloudDb.erasures, None, (5,), 3),
    (CloudDb.platform_orders, None, 3, ("2026-11-23T10:00:00.000Z", "meituan", "x")),
    (CloudDb.platform_orders, "s1", 3, ("2026-11-23T10:00:00.000Z", "meituan", "x")),
    (CloudDb.platform_callbacks, "pending", 3, (5,)),
    (CloudDb.platform_rejects, 3, (5,)),
    (CloudDb.automation_runs, "birthday", None, 3, (5,)),
    (CloudDb.automation_runs, None, "01J00000000000000000000000", 3, (5,)),
    (CloudDb.automation_runs, None, None, 3, (5,)),
)


def test_pages_walk_an_index_and_sort_nothing(db_url: str) -> None:
    db = CloudDb.open(db_url)
    try:
        db.add_store("s1", "acme")
        backend, seen = db._db, []
        execute = backend.execute

        def recording(sql: str, params: Any = ()) -> Any:
            if " LIMIT " in sql:
                seen.append((sql, params))
            return execute(sql, params)

        backend.execute = recording  # type: ignore[method-assign]
        for operation, *args in PAGES:
            operation(db, *args)
        backend.execute = execute  # type: ignore[method-assign]
        assert len(seen) == len(PAGES)
        for sql, params in seen:
            plan = _plan(db, sql, params)
            assert "Seq Scan" not in plan and "TEMP B-TREE FOR ORDER BY" not in plan, (sql, plan)
            assert "Index" in plan or "INDEX" in plan or "PRIMARY KEY" in plan, (sql, plan)
            assert not [ln for ln in plan.splitlines() if "Sort" in ln
                        and "Incremental Sort" not in ln], (sql, plan)
    finally:
        db.close()


def _plan(db: CloudDb, sql: str, params: Any) -> str:
    backend = db._db
    with backend.read():
        if backend.name == "sqlite":
            rows = backend.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            return "\n".join(str(r[-1]) for r in rows)
        backend.execute("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in backend.execute("EXPLAIN " + sql, params).fetchall())
