"""The price-rule routes at the store, and rules applied at order create and in the catalog."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge import keys
from edge.pricing import sql
from sync.changes import check_change
from edge.syncer.sql import apply_down
from tests.conftest import Api

from .conftest import SetClock

LUNCH = {"skus": ["C004"], "days": [1, 2, 3, 4, 5], "from": "11:00", "to": "13:30",
         "kind": "price", "value": 1200}
MONDAY_NOON, MONDAY_2PM = "2026-12-07 12:00", "2026-12-07 14:00"


async def order(api: Api, *lines: tuple[str, int]) -> dict[str, Any]:
    status, body = await api.post("/api/v1/orders", {"channel": "pos", "lines": [
        {"sku": s, "qty": q} for s, q in lines]}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def _events(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT type FROM outbox WHERE type LIKE 'price_rule.%' "
                                       "ORDER BY seq")]


async def events(client: TestClient) -> list[str]:
    return await client.app[keys.DB].read(_events)


async def test_manager_sets_lists_replaces_and_deletes_a_rule(client: TestClient,
                                                              manager: Api) -> None:
    status, rule = await manager.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    assert status == 201 and rule == {"id": "lunch", **LUNCH, "source": "store",
                                      "updated_at": rule["updated_at"]}
    status, rule = await manager.call("PUT", "/api/v1/price-rules/lunch", {**LUNCH, "value": 1100})
    assert status == 200 and rule["value"] == 1100
    status, listed = await manager.get("/api/v1/price-rules")
    assert status == 200 and [r["id"] for r in listed] == ["lunch"]
    status, gone = await manager.call("DELETE", "/api/v1/price-rules/lunch")
    assert (status, gone) == (200, {"id": "lunch", "deleted": True})
    status, err = await manager.call("DELETE", "/api/v1/price-rules/lunch")
    assert (status, err["error"]) == (404, "unknown_price_rule")
    assert await events(client) == ["price_rule.set", "price_rule.set", "price_rule.deleted"]


async def test_a_cashier_reads_rules_but_cannot_set_them(cashier: Api) -> None:
    status, err = await cashier.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    assert (status, err["error"]) == (403, "forbidden")
    assert await cashier.get("/api/v1/price-rules") == (200, [])


BAD_RULES: list[tuple[Any, str]] = [
    ({**LUNCH, "skus": None}, "invalid_body"),
    ({k: v for k, v in LUNCH.items() if k != "skus"}, "invalid_body"),  # names nothing
    ({**LUNCH, "kind": "percent_off", "value": 101}, "invalid_body"),
    ({**LUNCH, "value": -1}, "invalid_body"),
    ({**LUNCH, "value": 12.0}, "invalid_body"),
    ({**LUNCH, "from": "25:00"}, "invalid_body"),
    ({**LUNCH, "to": "11:00\n"}, "invalid_body"),
    ({**LUNCH, "days": [0]}, "invalid_body"),
    ({**LUNCH, "days": [8]}, "invalid_body"),
    ({**LUNCH, "channels": ["fax"]}, "invalid_body"),
    ({**LUNCH, "extra": 1}, "invalid_body"),
    ({**LUNCH, "from": "11:00", "to": "11:00"}, "empty_window"),
    ([LUNCH], "invalid_body"),
]


@pytest.mark.parametrize(("body", "code"), BAD_RULES)
async def test_bad_rules_are_4xx_json_and_write_nothing(client: TestClient, manager: Api,
                                                        body: Any, code: str) -> None:
    status, err = await manager.call("PUT", "/api/v1/price-rules/lunch", body)
    assert (status, err["error"]) == (422, code)
    assert await manager.get("/api/v1/price-rules") == (200, [])
    assert await events(client) == []


async def test_malformed_json_and_bad_ids_are_refused(client: TestClient, manager: Api) -> None:
    resp = await client.put("/api/v1/price-rules/lunch", data=b"{not json",
                            headers={"Authorization": f"Bearer {manager.token}"})
    assert resp.status == 400 and (await resp.json())["error"] == "malformed_json"
    status, err = await manager.call("PUT", "/api/v1/price-rules/" + "x" * 65, LUNCH)
    assert (status, err["error"]) == (404, "unknown_price_rule")
    assert await events(client) == []


async def test_an_order_at_noon_gets_the_lunch_price_and_names_the_rule(
        client: TestClient, manager: Api, shop_clock: SetClock) -> None:
    await manager.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    shop_clock(MONDAY_NOON)
    placed = await order(manager, ("C004", 2), ("C001", 1))
    assert [(ln["unit_cents"], ln["total_cents"], ln.get("price_rule")) for ln in placed["lines"]] \
        == [(1200, 2400, "lunch"), (2800, 2800, None)]
    assert "price_rule" not in placed["lines"][1]
    assert placed["total_cents"] == 5200
    assert (await manager.get(f"/api/v1/orders/{placed['id']}"))[1] == placed

    shop_clock(MONDAY_2PM)
    later = await order(manager, ("C004", 1))
    assert later["lines"][0]["unit_cents"] == 1600 and "price_rule" not in later["lines"][0]


async def test_changing_a_rule_reaches_the_next_order(manager: Api,
                                                      shop_clock: SetClock) -> None:
    shop_clock(MONDAY_NOON)
    assert (await order(manager, ("C004", 1)))["lines"][0]["unit_cents"] == 1600  # cached
    await manager.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    assert (await order(manager, ("C004", 1)))["lines"][0]["unit_cents"] == 1200
    await manager.call("PUT", "/api/v1/price-rules/lunch", {**LUNCH, "value": 1000})
    assert (await order(manager, ("C004", 1)))["lines"][0]["unit_cents"] == 1000
    await manager.call("DELETE", "/api/v1/price-rules/lunch")
    assert (await order(manager, ("C004", 1)))["lines"][0]["unit_cents"] == 1600


async def test_the_catalog_shows_the_price_now(manager: Api, shop_clock: SetClock) -> None:
    await manager.call("PUT", "/api/v1/price-rules/noodles", {
        "categories": ["noodle"], "channels": ["meituan"], "from": "11:00", "to": "14:00",
        "kind": "percent_off", "value": 10})
    shop_clock(MONDAY_NOON)
    _, items = await manager.get("/api/v1/catalog/items")
    assert not any("price_now_cents" in i for i in items)  # pos: the rule is meituan's
    _, items = await manager.get("/api/v1/catalog/items?channel=meituan")
    by_sku = {i["sku"]: i for i in items}
    assert (by_sku["C004"]["price_now_cents"], by_sku["C004"]["price_rule"]) == (1710, "noodles")
    assert "price_now_cents" not in by_sku["C001"]
    shop_clock(MONDAY_2PM)
    _, items = await manager.get("/api/v1/catalog/items?channel=meituan")
    assert not any("price_now_cents" in i for i in items)
    status, err = await manager.get("/api/v1/catalog/items?channel=fax")
    assert (status, err["error"]) == (400, "invalid_query")


def _hq(cursor: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"cursor": cursor, "from_cursor": cursor - 1,
            "changes": [{"cursor": cursor, "type": "price_rule", "data": data}]}


async def test_hq_rules_apply_once_and_the_store_cannot_change_them(
        client: TestClient, manager: Api) -> None:
    db = client.app[keys.DB]
    await manager.call("PUT", "/api/v1/price-rules/mine", LUNCH)
    put = _hq(1, {"id": "lunch", "rule": LUNCH})
    await db.write(apply_down, put)
    await db.write(apply_down, {**put, "snapshot": True})  # restated: nothing changes
    rules = {r["id"]: r for r in await db.read(sql.list_rules)}
    assert rules["lunch"]["source"] == "hq" and rules["mine"]["source"] == "store"
    status, err = await manager.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    assert (status, err["error"]) == (409, "hq_rule")
    status, err = await manager.call("DELETE", "/api/v1/price-rules/lunch")
    assert (status, err["error"]) == (409, "hq_rule")
    await db.write(apply_down, _hq(2, {"id": "mine", "deleted": True}))  # not HQ's: kept
    await db.write(apply_down, _hq(3, {"id": "lunch", "deleted": True}))
    await db.write(apply_down, {**_hq(3, {"id": "lunch", "deleted": True}), "snapshot": True})
    assert [r["id"] for r in await db.read(sql.list_rules)] == ["mine"]
    assert await events(client) == ["price_rule.set", "price_rule.set", "price_rule.deleted"]


@pytest.mark.parametrize(("data", "ok"), [
    ({"id": "lunch", "rule": LUNCH}, True),
    ({"id": "lunch", "deleted": True}, True),
    ({"id": "lunch"}, False),
    ({"id": "lunch", "rule": LUNCH, "deleted": True}, False),
    ({"id": "lunch", "rule": {**LUNCH, "kind": "free"}}, False),
    ({"id": "bad id", "deleted": True}, False),
])
def test_the_edge_checks_hq_price_rule_changes(data: dict[str, Any], ok: bool) -> None:
    assert (check_change({"type": "price_rule", "data": data}) is None) is ok


async def test_an_hq_rule_replaces_a_store_rule_of_the_same_id(client: TestClient,
                                                               manager: Api) -> None:
    await manager.call("PUT", "/api/v1/price-rules/lunch", LUNCH)
    await client.app[keys.DB].write(apply_down, _hq(1, {"id": "lunch",
                                                       "rule": {**LUNCH, "value": 999}}))
    (rule,) = await client.app[keys.DB].read(sql.list_rules)
    assert (rule["source"], rule["value"]) == ("hq", 999)
