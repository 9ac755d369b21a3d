"""A delta from HQ is applied once, whatever path brings it (issue 13.10).

End to end (real Mosquitto, HQ and the store as child processes): a store connected while HQ
sent it more than 1,000 changes, then an HQ stocktake of +5, then an HQ restart. HQ used to
take the store's retained birth again, answer its old cursor with a snapshot of several pages
whose first pages moved the store's cursor back, and the stocktake was applied a second time
(the store and HQ 5 above the count).

At the edge: a snapshot answering a stale cursor (as HQ's pages are built, ``down_messages``)
carrying every kind of delta after the store applied them changes nothing (stock, ledger,
coupon states, leases, no event emitted again) and never moves the cursor back; only a
snapshot HQ marks as a ``reset`` does; a ``stock.adjust`` is applied once by its ref too; a
snapshot whose deltas follow a cursor the store has not reached is a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.database import CloudDb
from cloud.feed.results import Feed
from cloud.sync.publisher import down_messages
from edge import keys
from edge.db.outbox import events_after
from edge.syncer import sql as syncdb
from sync.changes import check_change
from tests.broker import Broker
from tests.conftest import Api, login_as
from tests.helpers import Daemon, login, request
from sync import messages
from tests.system.test_edge_sync import T, Peer, broker, edge_client, health, peer  # noqa: F401 (fixtures)
from tests.edge.members.conftest import KEY_CHANGE, hlc, iso_in, phone_identity
from devtools.stack import Hq, edge_env, edge_sync, hq_db, hq_get, make_edge, wait_until

MEMBER = "01HZZZZZZZZZZZZZZZZZZZZZZ1"
NEW_SKUS = 210  # a snapshot of the catalog alone takes two pages (200 changes a page)
CHANGES = 1010  # more than SNAPSHOT_AFTER (1000) behind the store's birth


# -- end to end ------------------------------------------------------------------------------
@contextlib.contextmanager
def running(hq: Hq, edge: Daemon) -> Iterator[None]:
    try:
        yield
    finally:
        edge.stop()
        hq.stop_all()


def put_item(hq: Hq, token: str, sku: str, price: int) -> None:
    status, body = request("PUT", f"{hq.url}/api/v1/catalog/items/{sku}", {
        "name": f"Item {sku}", "category": "mains", "station": "kitchen", "price_cents": price},
        token)
    assert status in (200, 201), body


def on_hand(hq: Hq, token: str, edge: Daemon, manager: str, sku: str) -> tuple[int, int]:
    """(the store's stock of ``sku``, HQ's)."""
    status, local = request("GET", f"{edge.url}/api/v1/inventory", token=manager)
    assert status == 200, local
    remote = hq_get(hq, token, "/api/v1/stores/s1/inventory")
    return ({r["sku"]: r["on_hand"] for r in local}[sku],
            {r["sku"]: r["on_hand"] for r in remote}.get(sku, 0))


def hq_cursor(hq: Hq) -> int:
    db = hq_db(hq)
    try:
        return int(db.get_store("s1")["down_cursor"])  # type: ignore[index]
    finally:
        db.close()


def settled(hq: Hq, token: str, edge: Daemon) -> bool:
    """The store has HQ's whole feed, and HQ every event of the store."""
    sync = edge_sync(edge.url)
    store = next(s for s in hq_get(hq, token, "/api/v1/stores") if s["store"] == "s1")
    return bool(sync["down_cursor"] == hq_cursor(hq) and sync["pending"] == 0
                and store["applied_seq"] == sync["last_seq"])


def test_an_hq_stocktake_is_applied_once_across_an_hq_restart(tmp_path: Path) -> None:
    hq = Hq(tmp_path, ["s1"])
    edge = Daemon(make_edge(tmp_path, "s1"), env=edge_env(hq, "s1", keepalive=2))
    with running(hq, edge):
        hq.start_broker()
        hq.start()
        edge.start()
        token, manager = hq.token(), login(edge.url, "manager")
        wait_until(lambda: edge_sync(edge.url)["connected"], 20, 0.05, "store connected")
        skus = [f"X{n:03d}" for n in range(NEW_SKUS)]
        prices = [(skus[n % NEW_SKUS], 1000 + n) for n in range(CHANGES)]
        for sku, price in prices:  # each pushed to the store, in order (no gap, no re-birth)
            put_item(hq, token, sku, price)
        wait_until(lambda: settled(hq, token, edge), 60, 0.2, "store has every change")
        status, body = request("POST", f"{edge.url}/api/v1/inventory/movements",
                               {"sku": "X000", "delta": 20, "reason": "receipt"}, manager)
        assert status == 201, body
        wait_until(lambda: on_hand(hq, token, edge, manager, "X000") == (20, 20), 20, 0.1)
        status, body = request("POST", f"{hq.url}/api/v1/stores/s1/inventory/X000/stocktake",
                               {"counted": 25}, token)
        assert status == 201, body
        wait_until(lambda: on_hand(hq, token, edge, manager, "X000") == (25, 25), 20, 0.1,
                   "the stocktake applied")
        cursor = edge_sync(edge.url)["down_cursor"]

        hq.kill(signal.SIGTERM)  # a redeploy
        hq.start()
        token = hq.token()
        time.sleep(3)  # HQ's answer to the birth it gets again came within 1 s (measured)
        wait_until(lambda: settled(hq, token, edge), 30, 0.2, "store and HQ settled")
        assert on_hand(hq, token, edge, manager, "X000") == (25, 25)
        assert edge_sync(edge.url)["down_cursor"] == cursor == hq_cursor(hq)


# -- at the edge ------------------------------------------------------------------------------
async def apply(client: TestClient, message: dict[str, Any]) -> dict[str, int]:
    """A down message as EdgeSync applies it (each change validated first)."""
    for change in message["changes"]:
        reason = check_change(change)
        if reason:
            change["invalid"] = reason
    return await client.app[keys.DB].write(syncdb.apply_down, message)  # type: ignore[no-any-return]


async def cursor_of(client: TestClient) -> int:
    return int((await client.app[keys.DB].read(syncdb.sync_state))["down_cursor"])


async def event_types(client: TestClient) -> list[str]:
    events = await client.app[keys.DB].read(events_after, "s", 0, ("",), 100_000)
    return [e["type"] for e in events]


def numbered(changes: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    return [{"cursor": n, **c} for n, c in enumerate(changes, start=start)]


def item(sku: str, price: int) -> dict[str, Any]:
    return {"type": "catalog.item", "data": {"sku": sku, "name": f"Item {sku}",
                                             "category": "mains", "station": "kitchen",
                                             "price_cents": price}}


def deltas() -> list[dict[str, Any]]:
    """Every kind of delta HQ sends, in an order where applying an old one again after the
    newer ones would undo them."""
    window = {"valid_from": iso_in(-1), "valid_to": iso_in(1)}
    lease = {"lease_id": "L1", "member": MEMBER, "value": 0, "per_txn_points": 50,
             "per_txn_value": 0, "expires_at": iso_in(1)}
    return [
        {"type": "member.upsert", "data": {"member": {"id": MEMBER, "name": "Li", "hlc": hlc()},
                                           "identities": [phone_identity()]}},
        {"type": "ledger.entry", "data": {"entry_id": "E1", "member": MEMBER,
                                          "account": "points", "kind": "adjust", "amount": 100,
                                          "store": None, "at": iso_in(0), "hlc": hlc()}},
        {"type": "lease.granted", "data": {**lease, "points": 80, "rev": 1}},
        {"type": "lease.granted", "data": {**lease, "points": 40, "rev": 2, "ack": True}},
        {"type": "lease.granted", "data": {**lease, "lease_id": "L2", "points": 5, "rev": 1}},
        {"type": "lease.revoked", "data": {"lease_id": "L2", "rev": 2, "ack": True}},
        {"type": "coupon.template", "data": {"template_id": "T1", "kind": "amount_off",
                                             "value": 300, **window}},
        {"type": "coupon.issued", "data": {"code": "CPN-1", "template_id": "T1",
                                           "issued_at": iso_in(-1), "state": "issued"}},
        {"type": "coupon.state", "data": {"code": "CPN-1", "state": "void"}},
        {"type": "coupon.state", "data": {"code": "CPN-1", "state": "issued"}},  # reinstated
        {"type": "stock.adjust", "data": {"sku": "C001", "delta": 5, "reason": "stocktake",
                                          "ref": "hq-stocktake-x1"}},
    ]


async def store_view(client: TestClient) -> dict[str, Any]:
    db = client.app[keys.DB]

    def read(conn: Any) -> dict[str, Any]:
        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        return {"stock": rows("SELECT sku, on_hand FROM stock ORDER BY sku"),
                "ledger": rows("SELECT entry_id, amount FROM ledger_entries ORDER BY entry_id"),
                "leases": rows("SELECT lease_id, points, revoked FROM leases ORDER BY lease_id"),
                "coupons": rows("SELECT code, state, order_id FROM coupons ORDER BY code")}
    return await db.read(read)  # type: ignore[no-any-return]


async def test_a_stale_snapshot_of_several_pages_applies_no_delta_twice(
        client: TestClient) -> None:
    state = [KEY_CHANGE, *(item(s, 2000 + n) for n, s in enumerate(("C001", "C002", "C003")))]
    first = numbered([*state, *deltas()], 1)
    result = await apply(client, {"from_cursor": 0, "cursor": first[-1]["cursor"],
                                  "snapshot": False, "changes": first})
    assert result["rejected"] == 0, result
    latest = first[-1]["cursor"]
    # the store redeems the reinstated coupon: a state HQ has not sent
    cashier = await login_as(client, "cashier")
    status, order = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "coupons": ["CPN-1"]},
        headers={"Idempotency-Key": "redeem-cpn-1"})
    assert status == 201, order
    before, events = await store_view(client), await event_types(client)
    assert before["leases"] == [("L1", 40, 0), ("L2", 5, 1)]
    assert ("CPN-1", "redeemed", order["id"]) in before["coupons"]

    # HQ answers the store's stale birth (cursor 1: the tenant key) with a snapshot: its
    # state, then every delta after 1, in pages of 3; each page but the last says cursor 1
    feed_state = [c for c in first if c["type"] in ("tenant.key", "catalog.item",
                                                   "coupon.template")]
    feed_deltas = [c for c in first if c not in feed_state and c["cursor"] > 1]
    pages = down_messages(Feed(True, 0, latest, feed_state + feed_deltas), 1, page_size=3)
    assert len(pages) > 3 and pages[0]["cursor"] == 1 and pages[-1]["cursor"] == latest
    for page in pages:
        await apply(client, page)
        assert await cursor_of(client) == latest  # never moves back
        assert (await store_view(client))["leases"] == before["leases"]  # not even for a page
    after = await store_view(client)
    assert after == before, (before, after)
    again = (await event_types(client))[len(events):]
    assert set(again) <= {"catalog.item_changed"}, again  # no stock.moved, no lease.acked


async def test_only_a_reset_moves_the_cursor_back_and_stock_is_adjusted_once_by_ref(
        client: TestClient) -> None:
    adjust = {"type": "stock.adjust", "data": {"sku": "C002", "delta": -4,
                                               "reason": "stocktake", "ref": "hq-stocktake-7-a"}}
    start, events = (await store_view(client))["stock"], len(await event_types(client))
    await apply(client, {"from_cursor": 0, "cursor": 8, "snapshot": False,
                         "changes": numbered([KEY_CHANGE, adjust], 7)})
    assert await cursor_of(client) == 8
    # a snapshot page stating a lower cursor: the cursor stays
    await apply(client, {"from_cursor": 0, "cursor": 3, "snapshot": True,
                         "changes": numbered([KEY_CHANGE], 1)})
    assert await cursor_of(client) == 8
    # a reset (HQ's feed restarted below ours): the cursor comes back to HQ's ...
    await apply(client, {"from_cursor": 0, "cursor": 2, "snapshot": True, "reset": True,
                         "changes": numbered([KEY_CHANGE], 1)})
    assert await cursor_of(client) == 2
    # ... and the same adjustment under a new cursor is not applied again: its ref is known
    await apply(client, {"from_cursor": 2, "cursor": 3, "snapshot": False,
                         "changes": numbered([adjust], 3)})
    assert await cursor_of(client) == 3
    stock = dict((await store_view(client))["stock"])
    assert stock["C002"] == dict(start)["C002"] - 4
    assert (await event_types(client))[events:].count("stock.moved") == 1


async def test_a_snapshot_after_a_cursor_the_store_has_not_reached_is_a_gap(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:  # noqa: F811
    client = await edge_client(tmp_path, broker, aiohttp_client)
    api: Api = await login_as(client, "manager")
    await peer.wait(lambda: peer.states)
    births = len(peer.states)
    stock = {r["sku"]: r["on_hand"] for r in (await api.get("/api/v1/inventory"))[1]}
    # HQ pushed a snapshot for a store it believed at cursor 5; this one is at 0: it missed
    # cursors 1..5 and must not jump over them
    adjust = {"cursor": 6, "type": "stock.adjust", "data": {
        "sku": "C002", "delta": 2, "reason": "receipt", "ref": "r6"}}
    peer.client.publish_nowait(T["down"], messages.encode(
        {"from_cursor": 5, "cursor": 6, "snapshot": True, "changes": [adjust]}))
    await peer.wait(lambda: len(peer.states) > births)
    assert peer.states[-1]["applied_down_cursor"] == 0  # "replay from 0"
    await asyncio.sleep(0.2)
    assert (await health(client))["down_cursor"] == 0
    now = {r["sku"]: r["on_hand"] for r in (await api.get("/api/v1/inventory"))[1]}
    assert now["C002"] == stock["C002"]
    await client.close()


# -- at HQ ------------------------------------------------------------------------------------
def test_hq_marks_a_snapshot_for_an_edge_ahead_of_its_feed_as_a_reset(tmp_path: Path) -> None:
    db = CloudDb.open(f"sqlite:///{tmp_path / 'hq.db'}")
    try:
        db.add_store("s1", "acme")  # cursor 1: the tenant key
        db.stocktake("s1", "C001", 3)
        assert not db.changes_since("s1", 0, limit=1).reset  # behind: a snapshot, no reset
        ahead = db.changes_since("s1", 9)  # HQ restored from a backup older than the store
        assert ahead.snapshot and ahead.reset and ahead.cursor == 2
        pages = down_messages(ahead, 9, page_size=1)
        assert [(p["from_cursor"], p["cursor"], p.get("reset")) for p in pages] == [
            (0, 9, None)] * (len(pages) - 1) + [(0, 2, True)]
        behind = down_messages(db.changes_since("s1", 0, limit=1), 0, page_size=1)
        assert [(p["from_cursor"], p.get("reset")) for p in behind] == [(0, None)] * len(behind)
        db.stocktake("s1", "C001", 3)
        refs = [c["data"]["ref"] for c in db.changes_since("s1", 1).changes]
        assert [r.rsplit("-", 1)[0] for r in refs] == ["hq-stocktake-2", "hq-stocktake-3"]
        assert len(set(r.rsplit("-", 1)[1] for r in refs)) == 2  # not only the cursor
    finally:
        db.close()
