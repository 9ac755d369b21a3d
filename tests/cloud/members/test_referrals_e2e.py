"""Referral end to end through a real Mosquitto (SQLite and PostgreSQL): HQ sets the rule, a
member's code and link, a guest joins at the till with it, pays a first order over the
minimum, and both members get their coupon; the report counts it at the store."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from cloud.members.referral_routes import PAGES_PER_ADDRESS_PER_MIN
from devtools.stack import Hq, edge_app, eventually, hq_login
from tests.conftest import login_as

TEMPLATE = {"kind": "amount_off", "value": 1000, "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2099-01-01T00:00:00Z", "channels": ["pos"]}
RULE = {"min_spend_cents": 2000, "referrer_template": "ref-give",
        "referee_template": "ref-get"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def test_referral_from_link_to_rewards(system: Hq, tmp_path: Path,
                                             aiohttp_client: Any) -> None:
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    for bad, want in (({"min_spend_cents": 1.5, "referrer_template": "a",
                        "referee_template": "b"}, 422),
                      ({"min_spend_cents": 100}, 422),
                      ({**RULE, "extra": 1}, 422),
                      (RULE, 404)):  # the templates do not exist yet
        status, body = await admin.call("PUT", "/api/v1/referrals/rule", bad)
        assert status == want, (bad, body)
    for name in ("ref-give", "ref-get"):
        assert (await admin.call("PUT", f"/api/v1/coupons/templates/{name}", TEMPLATE))[0] in (
            200, 201)
    assert (await admin.call("PUT", "/api/v1/referrals/rule", RULE))[0] == 200
    assert await admin.get("/api/v1/referrals/rule") == (200, {"rule": RULE})

    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    cashier = await login_as(edge, "cashier")

    async def created(body: dict[str, Any]) -> dict[str, Any] | None:
        status, member = await cashier.post("/api/v1/members", body, headers=idem())
        return member if status in (200, 201) else None
    friend = await eventually(lambda: created({"phone": "13900003333", "name": "Li"}))

    async def coded() -> dict[str, Any] | None:
        status, found = await admin.get(f"/api/v1/members/{friend['id']}/referral")
        return found if status == 200 else None
    mine = await eventually(coded)
    assert mine["url"].endswith(f"/r/{mine['code']}")
    assert (await admin.get("/api/v1/members/01ARZ3NDEKTSV4RRFFQ69G5FAV/referral"))[0] == 404
    page = await hq.get(f"/r/{mine['code'].lower()}")
    assert page.status == 200 and mine["code"] in await page.text()
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    for wrong in ("ZZZZZZZZ", "not-a-code", "%3Cscript%3E"):
        assert (await hq.get(f"/r/{wrong}")).status == 404
    flood = [(await hq.get(f"/r/{mine['code']}")) for _ in range(PAGES_PER_ADDRESS_PER_MIN)]
    assert flood[-1].status == 429 and int(flood[-1].headers["Retry-After"]) > 0
    assert (await flood[-1].json())["error"] == "slow_down"

    for bad in ("O0I1O0I1", "short", 12345678, "ABCDEFGH\n"):
        status, err = await cashier.post("/api/v1/members", {"phone": "13900004444",
                                                             "referral": bad}, headers=idem())
        assert status == 422, (bad, err)
    guest = await created({"phone": "13900004444", "referral": mine["code"].lower()})
    assert guest is not None
    stranger = await created({"phone": "13900005555", "referral": "ZZZZZZZZ"})
    assert stranger is not None

    status, order = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": guest["id"]},
        headers=idem())
    assert status == 201 and order["total_cents"] >= RULE["min_spend_cents"], order
    status, paid = await cashier.post(f"/api/v1/orders/{order['id']}/payment", {
        "tenders": [{"kind": "cash", "amount_cents": order["total_cents"]}]}, headers=idem())
    assert status == 201, paid

    async def rewarded() -> dict[str, Any] | None:
        _, found = await admin.get(f"/api/v1/members/{friend['id']}/referral")
        return found if found["referrals"]["rewarded"] == 1 else None
    await eventually(rewarded)
    for member, template in ((friend, "ref-give"), (guest, "ref-get")):
        _, detail = await admin.get(f"/api/v1/members/{member['id']}")
        assert [c["template_id"] for c in detail["coupons"]] == [template]
    day = order["created_at"][:10]
    status, report = await admin.get(f"/api/v1/reports/referrals?from={day}&to={day}")
    assert status == 200, report
    assert report["by_store"] == [{"store": "s1", "joined": 2, "pending": 0, "rewarded": 1,
                                   "refused": 1}]
    assert report["refusals"]["unknown_code"] == 1
    for query in ("from=2026-13-01&to=2026-12-01", f"from={day}", "from=2026-12-02&to=2026-12-01",
                  "from=２０２６-12-01&to=2026-12-01"):
        assert (await admin.get(f"/api/v1/reports/referrals?{query}"))[0] == 400, query
    await edge.close()
    await hq.close()
