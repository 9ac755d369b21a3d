"""Platform webhooks on SQLite and PostgreSQL: each platform's signature scheme, the unified
order in the store's change feed, and every kind of bad input refused in the platform's own
error shape, recorded, with nothing forwarded."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from cloud.platforms.sql import idempotency_key
from sync import messages
from tests.conftest import Api

from . import signed
from .signed import PLATFORMS_UNDER_TEST as PLATFORMS


async def post(hq: TestClient, platform: str, headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
    resp = await hq.post(signed.path(platform), data=body, headers=headers)
    return resp.status, await resp.json(content_type=None)


async def db(hq: TestClient, method: str, *args: Any) -> Any:
    return await hq.server.app[keys.DB].call(getattr(CloudDb, method), *args)


async def feed(hq: TestClient, store: str = "s1") -> list[dict[str, Any]]:
    found = await db(hq, "changes_since", store, 0)
    return [c for c in found.changes if c["type"] == "platform.order"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_signed_order_goes_into_the_store_feed_once(hq: TestClient, admin: Api,
                                                            platform: str) -> None:
    unified = signed.order(lines=[("C001", 2, 1500), ("C002", 1, 900)], note="no chili")
    status, body = await post(hq, platform, *signed.request(platform, unified))
    assert status == 200 and signed.is_ok(platform, body), body
    changes = await feed(hq)
    assert len(changes) == 1
    channel = "meituan" if platform == "generic" else platform
    assert changes[0]["data"] == {
        "platform": platform, "platform_order_id": unified["platform_order_id"],
        "channel": channel, "lines": [{"sku": "C001", "qty": 2}, {"sku": "C002", "qty": 1}],
        "total_cents": 3900, "idempotency_key": idempotency_key(
            platform, unified["platform_order_id"])}
    # the same platform order again (a platform retry with a new request id): no second one
    status, body = await post(hq, platform, *signed.request(platform, unified))
    assert status == 200 and signed.is_ok(platform, body)
    assert len(await feed(hq)) == 1
    (row,) = await db(hq, "platform_orders", "s1")
    assert (row["status"], row["store"], row["total_cents"]) == ("forwarded", "s1", 3900)
    assert await feed(hq, "s2") == []


BAD = ("bad_signature", "tampered", "stale", "future", "replayed", "unknown_shop",
       "unknown_sku", "malformed", "bad_order", "too_large", "wrong_secret")


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_bad_input_is_refused_in_the_platform_shape(hq: TestClient, admin: Api,
                                                          platform: str, case: str) -> None:
    unified = signed.order()
    kwargs: dict[str, Any] = {}
    expected = {"tampered": "bad_signature", "wrong_secret": "bad_signature",
                "future": "stale", "unknown_shop": "unknown_store",
                "bad_order": "malformed"}.get(case, case)
    if case == "tampered":
        kwargs["tamper"] = True
    elif case == "wrong_secret":
        kwargs["secret"] = "not-the-secret-0000"
    elif case == "stale":
        kwargs["at"] = time.time() - 301
    elif case == "future":
        kwargs["at"] = time.time() + 301
    elif case == "unknown_shop":
        kwargs["shop"] = "no-such-shop"
    elif case == "bad_order":  # signed, but no valid order inside
        unified = {**signed.order(), "lines": [{"sku": "C001", "qty": 0, "unit_cents": 1}]}
    elif case == "unknown_sku":
        unified = signed.order(lines=[("C001", 1, 100), ("NOPE", 1, 100)])
    headers, body = signed.request(platform, unified, **kwargs)
    if case == "bad_signature":
        headers, body = signed.request(platform, unified, secret="x" * 20)
        if platform == "generic":
            headers[signed.signing.GENERIC_HEADER] = "t=1,v1"
    elif case == "replayed":
        assert (await post(hq, platform, headers, body))[0] == 200
        before = await feed(hq)
        headers2, body2 = signed.request(platform, signed.order(), request_id=_rid(body))
        headers, body = headers2, body2
    elif case == "malformed":
        body = b"{not json" if platform != "meituan" else b"a=%ZZ&&="
        if platform == "generic":  # the HMAC covers the raw body: sign the garbage
            headers[signed.signing.GENERIC_HEADER] = signed.signing.hmac_sign(
                body, signed.SECRETS["generic"], int(time.time()))
    elif case == "too_large":
        body = b"x" * 70_000
    if case != "replayed":
        before = await feed(hq)
    cursor_before = (await db(hq, "get_store", "s1"))["down_cursor"]
    status, answer = await post(hq, platform, headers, body)
    assert signed.error_reason(platform, answer) == expected, answer
    assert status == {"bad_signature": 401, "stale": 401, "replayed": 409,
                      "unknown_store": 404, "unknown_sku": 422, "malformed": 400,
                      "too_large": 413}[expected]
    assert await feed(hq) == before  # nothing forwarded
    assert (await db(hq, "get_store", "s1"))["down_cursor"] == cursor_before
    rejects = await db(hq, "platform_rejects")
    assert rejects[0]["platform"] == platform and rejects[0]["reason"] == expected


def _rid(body: bytes) -> str:
    """The request id inside a signed body (whatever the platform calls it)."""
    import json
    from urllib.parse import parse_qsl

    if body.startswith(b"{"):
        data = json.loads(body)
        return str(data.get("requestId") or data["id"])
    return dict(parse_qsl(body.decode()))["request_id"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_dead_store_pauses_its_platform_channels_until_its_birth(
        hq: TestClient, admin: Api, platform: str) -> None:
    await db(hq, "record_state", "acme", "s1", messages.encode(messages.death(5)))
    status, body = await post(hq, platform, *signed.request(platform, signed.order()))
    assert status == 503 and signed.error_reason(platform, body) == "paused"
    assert await feed(hq) == []
    birth = messages.birth(6, 0, "test", 0)
    assert (await db(hq, "record_state", "acme", "s1", messages.encode(birth))).accepted
    status, body = await post(hq, platform, *signed.request(platform, signed.order()))
    assert status == 200 and signed.is_ok(platform, body), body
    assert len(await feed(hq)) == 1


async def test_a_platform_without_a_secret_is_off(hq_dir: Any, aiohttp_client: Any) -> None:
    from cloud.app import create_app
    from cloud.config import load_settings

    client = await aiohttp_client(create_app(load_settings(hq_dir, env={})))
    resp = await client.post(signed.path("eleme"), data=b"{}")
    assert resp.status == 404
    assert (await resp.json())["code"] == "APP_NOT_FOUND"
    await client.close()


async def test_hq_reads_need_a_token(hq: TestClient, admin: Api) -> None:
    assert (await hq.get("/api/v1/platforms/orders")).status == 401
    for path in ("/api/v1/platforms/orders?store=s1", "/api/v1/platforms/callbacks?state=sent",
                 "/api/v1/platforms/rejects?limit=5"):
        status, body = await admin.get(path)
        assert status == 200 and body == [], (path, body)
    assert (await admin.get("/api/v1/platforms/callbacks?state=nope"))[0] == 400
