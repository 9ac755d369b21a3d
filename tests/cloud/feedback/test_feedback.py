"""Feedback after the visit through a real Mosquitto and HQ (SQLite and PostgreSQL): the
order's signed token, a low score given to HQ on mobile data reaches the store's staff as
feedback.alert within 2 s, a rating on the shop's Wi-Fi reaches HQ, each order is rated once
whichever way, forged tokens and bad bodies are refused, a recovery coupon is issued within
its monthly cap, and the NPS report adds it up."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from common.feedback import make_token
from devtools.stack import Hq, edge_app, eventually, hq_login
from tests.conftest import Api, login_as

TEMPLATE = {"kind": "amount_off", "value": 800, "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2099-01-01T00:00:00Z", "channels": ["pos"]}
LINES = [{"sku": "C002", "qty": 1}, {"sku": "C001", "qty": 1}]


async def _public(client: TestClient, method: str, path: str, body: Any = None
                  ) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body)
    return resp.status, await resp.json(content_type=None)


async def test_feedback_both_ways_alert_recovery_and_nps(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    cashier = await login_as(edge, "cashier")
    assert (await admin.call("PUT", "/api/v1/coupons/templates/sorry-8", TEMPLATE))[0] in (
        200, 201)
    status, rule = await admin.call("PUT", "/api/v1/feedback/recovery-rule",
                                    {"below": 6, "template": "sorry-8", "per_member_month": 1})
    assert status == 200, rule
    assert (await admin.call("PUT", "/api/v1/feedback/recovery-rule",
                             {"below": 6, "template": "nope", "per_member_month": 1}))[0] == 404

    async def keyed() -> dict[str, Any] | None:  # HQ's tenant key reached the store
        status, member = await cashier.post("/api/v1/members",
                                            {"phone": "13900001111", "name": "Li"},
                                            headers={"Idempotency-Key": "member-li-01"})
        return member if status in (200, 201) else None
    member = await eventually(keyed)

    async def order(n: int, with_member: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"channel": "pos", "lines": LINES}
        if with_member:
            body["member"] = member["id"]
        status, placed = await cashier.post("/api/v1/orders", body,
                                            headers={"Idempotency-Key": f"fb-order-{n:04d}"})
        assert status == 201 and placed["feedback_url"].startswith("/f/"), placed
        return placed

    first, second, third = await order(1, True), await order(2, False), await order(3, True)
    token = first["feedback_url"].split("/")[-1]

    async def at_hq(order_id: str) -> bool:
        _, found = await _public(hq, "GET", f"/api/v1/feedback/{token}")
        return found.get("number") == first["number"]
    await eventually(lambda: at_hq(first["id"]))  # the order reached HQ (its member too)

    # the pages and their order
    resp = await edge.get(first["feedback_url"])
    assert resp.status == 200 and "frame-ancestors 'none'" in resp.headers[
        "Content-Security-Policy"]
    assert (await hq.get(f"/f/s1/{token}")).status == 200
    assert (await hq.get(f"/f/s2/{token}")).status == 404  # the path's store is the token's
    status, shown = await _public(edge, "GET", f"/api/v1/feedback/{token}")
    assert status == 200 and [line["sku"] for line in shown["lines"]] == ["C002", "C001"]

    # forged, tampered, another store's: 404 alike, nothing written
    order_id, store, sig = token.split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    other = make_token(b"k" * 32, "s1", order_id)
    for bad in (f"{order_id}.{store}.{flipped}", other, f"{order_id}.s2.{sig}", "x" * 20):
        for client in (hq, edge):
            status, body = await _public(client, "POST", f"/api/v1/feedback/{bad}",
                                         {"score": 1})
            assert (status, body["error"]) == (404, "unknown_order"), (bad, body)
    for bad_body in ({"score": 11}, {"score": 5.0}, {"score": "5"}, {"score": 5, "x": 1},
                     {"score": 5, "dishes": {"C002": 2}}, {"score": 5, "comment": "x" * 2001}):
        status, body = await _public(hq, "POST", f"/api/v1/feedback/{token}", bad_body)
        assert status == 422, (bad_body, body)
    resp = await hq.post(f"/api/v1/feedback/{token}", data=b"{" + b" " * (11 * 2**20) + b"}",
                         headers={"Content-Type": "application/json"})
    assert resp.status in (413, 422) and "error" in await resp.json()

    # a low score on mobile data: HQ answers with a recovery coupon, the store's staff see
    # the alert at once, and the LAN page refuses a second rating
    ws = await edge.ws_connect(f"/api/v1/events?token={cashier.token}")
    try:
        started = time.perf_counter()
        status, rated = await _public(hq, "POST", f"/api/v1/feedback/{token}", {
            "score": 3, "dishes": {"C002": -1}, "comment": "<script>alert(1)</script>太咸了"})
        assert status == 201 and rated["recovery_coupon"], rated
        while True:
            event = await asyncio.wait_for(ws.receive_json(), 5)
            if event.get("type") == "feedback.alert":
                break
        alert_s = time.perf_counter() - started
    finally:
        await ws.close()
    print(f"feedback.alert at the store {alert_s * 1000:.0f} ms after the rating at HQ")
    assert alert_s < 2.0
    assert event["data"]["order_id"] == first["id"] and event["data"]["score"] == 3
    assert event["data"]["comment"] == "<script>alert(1)</script>太咸了"  # data, not markup
    status, body = await _public(edge, "POST", f"/api/v1/feedback/{token}", {"score": 9})
    assert (status, body["error"]) == (409, "already_rated")
    status, body = await _public(hq, "POST", f"/api/v1/feedback/{token}", {"score": 9})
    assert (status, body["error"]) == (409, "already_rated")

    # on the shop's Wi-Fi: a promoter, and a detractor who had a coupon this month already
    token2 = second["feedback_url"].split("/")[-1]
    status, _ = await _public(edge, "POST", f"/api/v1/feedback/{token2}",
                              {"score": 10, "dishes": {"C002": 1, "C001": 1}})
    assert status == 201
    assert (await _public(edge, "POST", f"/api/v1/feedback/{token2}", {"score": 1}))[0] == 409
    token3 = third["feedback_url"].split("/")[-1]
    assert (await _public(edge, "POST", f"/api/v1/feedback/{token3}",
                          {"score": 5, "dishes": {"C002": -1}}))[0] == 201

    day = first["day"]

    async def reported() -> dict[str, Any] | None:
        _, doc = await admin.get(f"/api/v1/reports/nps?from={day}&to={day}")
        return doc if doc["responses"] == 3 else None
    doc = await eventually(reported)
    assert (doc["promoters"], doc["passives"], doc["detractors"], doc["nps"]) == (1, 0, 2,
                                                                                 -33.3)
    assert doc["by_store"]["s1"]["responses"] == 3
    dishes = {d["sku"]: d for d in doc["by_dish"]}
    assert (dishes["C002"]["up"], dishes["C002"]["down"]) == (1, 2)
    assert doc["dragging"] == ["C002"]
    assert any(c["comment"].startswith("<script>") for c in doc["comments"])
    _, detail = await admin.get(f"/api/v1/members/{member['id']}")
    codes = [c for c in detail["coupons"] if c["template_id"] == "sorry-8"]
    assert len(codes) == 1  # the cap: one recovery coupon a month
    # the member's journey: both orders, both ratings, the coupon, the points, one timeline
    status, _ = await admin.call("POST", f"/api/v1/members/{member['id']}/ledger",
                                 {"account": "points", "kind": "earn", "amount": 50},
                                 {"Idempotency-Key": "sorry-points-1"})
    assert status == 201
    status, trip = await admin.get(f"/api/v1/members/{member['id']}/journey")
    assert status == 200 and trip["stores"] == ["s1"] and trip["channels"] == ["pos"]
    kinds = [e["kind"] for e in trip["events"]]
    assert kinds.count("order") == 2 and kinds.count("feedback") == 2
    assert "coupon_issued" in kinds and "points.earn" in kinds, kinds
    assert [e["at"] for e in trip["events"]] == sorted((e["at"] for e in trip["events"]),
                                                      reverse=True)
    assert (await admin.get("/api/v1/members/01ARZ3NDEKTSV4RRFFQ69G5FAV/journey"))[0] == 404
    assert (await admin.get("/api/v1/reports/nps?from=2026-13-01&to=x"))[0] == 400
    await edge.close()
    await hq.close()


def test_tokens_verify_only_with_their_key_and_store() -> None:
    from common.feedback import check_token
    key, order_id = b"\x01" * 32, "01JABCDEFGHJKMNPQRSTVWXYZ0"
    token = make_token(key, "s1", order_id)
    assert check_token(key, token) == (order_id, "s1")
    assert check_token(b"\x02" * 32, token) is None
    assert check_token(key, token.replace(".s1.", ".s2.")) is None
    assert check_token(key, token + "x") is None and check_token(key, "") is None
    assert json.dumps(token).strip('"') == token  # nothing to escape in a URL or JSON


async def test_the_guest_changes_consent_from_the_feedback_page(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    """The feedback page of a member's order is a guest page where the member grants or
    withdraws consent: on the shop's Wi-Fi (to HQ as member.consent_changed, source guest) and
    at HQ on mobile data (applied at once); an order without a member answers 409."""
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    cashier = await login_as(edge, "cashier")

    async def keyed() -> dict[str, Any] | None:
        status, member = await cashier.post("/api/v1/members", {"phone": "13900002222"},
                                            headers={"Idempotency-Key": "member-consent-1"})
        return member if status in (200, 201) else None
    member = await eventually(keyed)
    tokens = []
    for n, body in enumerate(({"member": member["id"]}, {})):
        status, placed = await cashier.post("/api/v1/orders", {
            "channel": "pos", "lines": LINES, **body}, headers={"Idempotency-Key": f"consent-order-{n}"})
        assert status == 201, placed
        tokens.append(placed["feedback_url"].split("/")[-1])
    mine, anonymous = tokens
    assert (await _public(edge, "GET", f"/api/v1/feedback/{mine}"))[1]["member"] is True
    assert (await _public(edge, "GET", f"/api/v1/feedback/{anonymous}"))[1]["member"] is False

    for bad in ({}, {"marketing": "yes"}, {"marketing": 1}, {"other": True}, [True]):
        for client in (edge, hq):
            status, err = await _public(client, "PUT", f"/api/v1/feedback/{mine}/consents", bad)
            assert status == 422, (bad, err)
    forged = make_token(b"k" * 32, "s1", mine.split(".")[0])
    for client in (edge, hq):
        status, err = await _public(client, "PUT", f"/api/v1/feedback/{forged}/consents",
                                    {"marketing": True})
        assert (status, err["error"]) == (404, "unknown_order")
    status, err = await _public(edge, "PUT", f"/api/v1/feedback/{anonymous}/consents",
                                {"marketing": True})
    assert (status, err["error"]) == (409, "no_member")

    # on the shop's Wi-Fi: granted, and HQ records it with the guest as its source
    status, sent = await _public(edge, "PUT", f"/api/v1/feedback/{mine}/consents",
                                 {"marketing": True, "profiling": True})
    assert status == 202 and sent["status"] == "sent", sent

    async def consents(granted: bool, count: int) -> dict[str, Any] | None:
        _, found = await admin.get(f"/api/v1/members/{member['id']}/consents")
        ok = found.get("consents", {}).get("marketing", {}).get("granted") is granted
        return found if ok and len(found["history"]) == count else None
    found = await eventually(lambda: consents(True, 2))
    assert {(h["purpose"], h["source"], h["store"]) for h in found["history"]} == {
        ("marketing", "guest", "s1"), ("profiling", "guest", "s1")}

    # at HQ on mobile data: withdrawn at once (the order has reached HQ by now)
    async def withdrawn() -> dict[str, Any] | None:
        status, body = await _public(hq, "PUT", f"/api/v1/feedback/{mine}/consents",
                                     {"marketing": False})
        return body if status == 202 else None
    assert (await eventually(withdrawn))["status"] == "recorded"
    found = await consents(False, 3)
    assert found is not None and found["consents"]["profiling"]["granted"] is True
    assert found["history"][-1] == {**found["history"][-1], "purpose": "marketing",
                                    "granted": False, "source": "guest", "store": "s1"}

    async def anonymous_at_hq() -> tuple[int, Any] | None:
        answer = await _public(hq, "GET", f"/api/v1/feedback/{anonymous}")
        return answer if answer[1].get("number") is not None else None
    await eventually(anonymous_at_hq)
    status, err = await _public(hq, "PUT", f"/api/v1/feedback/{anonymous}/consents",
                                {"marketing": True})
    assert (status, err["error"]) == (409, "no_member")
