"""HQ price rules (docs/pricing.md) on SQLite and PostgreSQL: into the change feed of all or
chosen stores, applied by an edge, deletes as tombstones, clashes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from cloud.sync.publisher import down_messages
from edge import keys as edge_keys
from edge.pricing import sql as edge_pricing
from sync.changes import check_change
from edge.syncer.sql import apply_down
from sync import messages
from tests.conftest import Api
from tests.edge.pricing.conftest import SetClock

LUNCH = {"skus": ["C004"], "days": [1, 2, 3, 4, 5], "from": "11:00", "to": "13:30",
         "kind": "price", "value": 1200}


async def feed(hq: TestClient, store: str, after: int = 1) -> list[dict[str, Any]]:
    """The store's changes after ``after`` (1: the tenant key)."""
    found = await hq.app[keys.DB].call(CloudDb.changes_since, store, after, 1000)
    return list(found.changes)


async def test_a_rule_goes_to_every_store_or_the_chosen_ones(hq: TestClient, admin: Api) -> None:
    status, body = await admin.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    assert status == 200, body
    assert body["stores"] == {"s1": 2, "s2": 2} and body["rule"] == {"id": "lunch", **LUNCH}
    assert body["messages_sent"] == 0  # no broker: the stores get it by replay at their birth
    assert [c["data"] for c in await feed(hq, "s2")] == [{"id": "lunch", "rule": LUNCH}]
    status, body = await admin.call("PUT", "/api/v1/price-rules/lunch?stores=s1",
                                    {**LUNCH, "value": 1000})
    assert status == 200 and body["stores"] == {"s1": 3, "s2": 3}
    assert (await feed(hq, "s2", 2))[0]["data"] == {"id": "lunch", "deleted": True}
    assert (await feed(hq, "s1", 2))[0]["data"]["rule"]["value"] == 1000
    status, rules = await admin.get("/api/v1/price-rules")
    assert status == 200 and [(r["id"], r["stores"], r["value"]) for r in rules] == [
        ("lunch", ["s1"], 1000)]
    status, body = await admin.call("DELETE", "/api/v1/price-rules/lunch")
    assert status == 200 and body["stores"] == {"s1": 4}
    assert (await feed(hq, "s1", 3))[0]["data"] == {"id": "lunch", "deleted": True}
    assert await admin.get("/api/v1/price-rules") == (200, [])
    status, err = await admin.call("DELETE", "/api/v1/price-rules/lunch")
    assert (status, err["error"]) == (404, "unknown_price_rule")


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/api/v1/price-rules/lunch", {**LUNCH, "kind": "percent_off", "value": 120}, 422,
     "invalid_body"),
    ("/api/v1/price-rules/lunch", {"from": "11:00", "to": "13:00", "kind": "price",
                                   "value": 1}, 422, "invalid_body"),
    ("/api/v1/price-rules/lunch", {**LUNCH, "to": "11:00"}, 422, "empty_window"),
    ("/api/v1/price-rules/lunch?stores=s1,ghost", LUNCH, 404, "unknown_store"),
    ("/api/v1/price-rules/lunch?stores=bad%20id", LUNCH, 400, "bad_query"),
    ("/api/v1/price-rules/" + "x" * 80, LUNCH, 404, "unknown_price_rule"),
])
async def test_bad_input_is_4xx_and_writes_nothing(hq: TestClient, admin: Api, path: str,
                                                   body: Any, status: int, code: str) -> None:
    got, err = await admin.call("PUT", path, body)
    assert (got, err["error"]) == (status, code)
    assert await admin.get("/api/v1/price-rules") == (200, [])
    assert await feed(hq, "s1") == []


async def test_an_analyst_reads_but_cannot_set(analyst: Api) -> None:
    status, _ = await analyst.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    assert status == 403
    assert await analyst.get("/api/v1/price-rules/clashes") == (200, [])


def _deliver(hq: CloudDb, after: int) -> list[dict[str, Any]]:
    """s1's feed after ``after`` as the sync link carries it to the edge: encoded, parsed, each
    change checked."""
    pages = [messages.parse_down(messages.encode(page))
             for page in down_messages(hq.changes_since("s1", after, 1000), after)]
    assert all(check_change(c) is None for page in pages for c in page["changes"])
    return pages


async def test_the_rule_reaches_an_edge_and_prices_its_orders(
        db_url: str, client: TestClient, manager: Api, shop_clock: SetClock) -> None:
    hq = CloudDb.open(db_url)  # the HQ database alone: one aiohttp app (the edge's) per test
    try:
        hq.add_store("s1", "acme")
        after = hq.changes_since("s1", 0, 1000).cursor
        assert hq.put_price_rule("lunch", LUNCH) == {"s1": after + 1}
        put = _deliver(hq, after)
        hq.delete_price_rule("lunch")
        delete = _deliver(hq, after + 1)
    finally:
        hq.close()
    edge = client.app[edge_keys.DB]
    for page in put * 2:  # a redelivery changes nothing
        await edge.write(apply_down, page)
    (rule,) = await edge.read(edge_pricing.list_rules)
    assert rule["source"] == "hq" and rule["value"] == 1200
    shop_clock("2026-12-08 12:15")  # a Tuesday
    status, order = await manager.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C004", "qty": 1}]},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201 and order["lines"][0]["unit_cents"] == 1200
    assert order["lines"][0]["price_rule"] == "lunch"
    for page in delete:
        await edge.write(apply_down, page)
    assert await edge.read(edge_pricing.list_rules) == []


async def test_clashes_name_overlapping_rules_and_their_shared_hours(admin: Api) -> None:
    rules = {
        "lunch": LUNCH,
        "fri-noodles": {"categories": ["noodle"], "skus": ["C004"], "days": [5],
                        "from": "13:00", "to": "15:00", "kind": "percent_off", "value": 10},
        "evening": {**LUNCH, "from": "17:00", "to": "20:00"},         # other hours
        "delivery": {**LUNCH, "channels": ["meituan"]},               # overlaps lunch only
        "noodles-s2": {"categories": ["noodle"], "from": "14:00", "to": "16:00",
                       "kind": "price", "value": 900},
    }
    for rule_id, body in rules.items():
        stores = "?stores=s2" if rule_id == "noodles-s2" else ""
        status, _ = await admin.call("PUT", f"/api/v1/price-rules/{rule_id}{stores}", body)
        assert status == 200
    status, found = await admin.get("/api/v1/price-rules/clashes")
    assert status == 200
    pairs = {tuple(c["rules"]): c for c in found}
    assert set(pairs) == {("delivery", "fri-noodles"), ("delivery", "lunch"),
                          ("fri-noodles", "lunch"), ("fri-noodles", "noodles-s2")}
    clash = pairs[("fri-noodles", "lunch")]
    assert clash["skus"] == ["C004"] and clash["channels"] is None and clash["stores"] is None
    assert clash["overlap"] == [{"day": 5, "from": "13:00", "to": "13:30"}]
    assert pairs[("delivery", "lunch")]["channels"] == ["meituan"]
    assert pairs[("fri-noodles", "noodles-s2")]["stores"] == ["s2"]
    assert pairs[("fri-noodles", "noodles-s2")]["categories"] == ["noodle"]
