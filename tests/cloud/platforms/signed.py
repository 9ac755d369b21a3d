"""Requests as each platform would send them, signed the documented way (test helpers)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from cloud.platforms import signing

SECRETS = {"meituan": "mt-secret-0123456789", "eleme": "el-secret-0123456789",
           "generic": "gen-secret-0123456789"}
APP_IDS = {"meituan": "mt-app-1", "eleme": "el-app-1"}
SHOPS = {"meituan": "mt-1001", "eleme": "el-2001", "generic": "gx-3001"}


def platform_env(callback_url: str = "", store: str = "s1", **extra: str) -> dict[str, str]:
    """``STORENODE_CLOUD_PLATFORMS_*`` for all three platforms, each shop mapped to ``store``."""
    env = {"STORENODE_CLOUD_PLATFORMS_CALLBACK_POLL_MS": "50",
           "STORENODE_CLOUD_PLATFORMS_CALLBACK_BACKOFF_MS": "100",
           "STORENODE_CLOUD_PLATFORMS_CALLBACK_MAX_ATTEMPTS": "4",
           "STORENODE_CLOUD_PLATFORMS_CALLBACK_TIMEOUT_S": "2"}
    for name, secret in SECRETS.items():
        prefix = f"STORENODE_CLOUD_PLATFORMS_{name.upper()}_"
        env[prefix + "SECRET"] = secret
        env[prefix + "SHOPS"] = f"{SHOPS[name]}={store}"
        if name in APP_IDS:
            env[prefix + "APP_ID"] = APP_IDS[name]
        if callback_url:
            env[prefix + "CALLBACK_URL"] = f"{callback_url}/{name}"
    return {**env, **extra}


def order(order_id: str | None = None, lines: list[tuple[str, int, int]] | None = None,
          note: str | None = None) -> dict[str, Any]:
    """A unified order: (sku, qty, unit_cents) lines."""
    lines = lines or [("C001", 2, 1500)]
    return {"platform_order_id": order_id or f"P{uuid.uuid4().hex[:12]}",
            "lines": [{"sku": s, "qty": q, "unit_cents": c} for s, q, c in lines],
            "total_cents": sum(q * c for _, q, c in lines), **({"note": note} if note else {})}


def request(platform: str, unified: dict[str, Any], *, request_id: str | None = None,
            at: float | None = None, shop: str | None = None, secret: str | None = None,
            tamper: bool = False) -> tuple[dict[str, str], bytes]:
    """(headers, body) of ``platform``'s webhook carrying ``unified``; ``tamper`` changes the
    body after signing."""
    rid = request_id or uuid.uuid4().hex
    at = time.time() if at is None else at
    shop = shop or SHOPS[platform]
    secret = secret or SECRETS[platform]
    lines = unified["lines"]
    if platform == "meituan":
        fields = {"app_id": APP_IDS["meituan"], "timestamp": str(int(at)), "request_id": rid,
                  "app_poi_code": shop, "order_id": unified["platform_order_id"],
                  "detail": json.dumps([{"app_food_code": ln["sku"], "quantity": ln["qty"],
                                         "price": ln["unit_cents"]} for ln in lines]),
                  "total": str(unified["total_cents"])}
        if unified.get("note"):
            fields["caution"] = unified["note"]
        fields["sig"] = signing.meituan_sign(fields, secret)
        if tamper:
            fields["total"] = str(unified["total_cents"] + 1)
        return ({"Content-Type": "application/x-www-form-urlencoded"},
                urlencode(fields).encode())
    if platform == "eleme":
        message = {"orderId": unified["platform_order_id"], "totalPrice": unified["total_cents"],
                   "items": [{"extendCode": ln["sku"], "quantity": ln["qty"],
                              "price": ln["unit_cents"]} for ln in lines]}
        envelope: dict[str, Any] = {"requestId": rid, "type": "order.created",
                                    "appId": APP_IDS["eleme"], "shopId": shop,
                                    "timestamp": int(at * 1000),
                                    "message": json.dumps(message)}
        envelope["signature"] = signing.eleme_sign(envelope, secret)
        if tamper:
            message["items"][0]["quantity"] += 1
            envelope["message"] = json.dumps(message)
        return {"Content-Type": "application/json"}, json.dumps(envelope).encode()
    generic = {"platform_order_id": "id"}
    body_order = {generic.get(k, k): v for k, v in unified.items()}
    raw = json.dumps({"id": rid, "type": "order.created", "shop": shop,
                      "order": body_order}).encode()
    header = signing.hmac_sign(raw, secret, int(at))
    if tamper:
        raw = raw.replace(b'"qty": ', b'"qty": 1')
    return {"Content-Type": "application/json", signing.GENERIC_HEADER: header}, raw


def path(platform: str) -> str:
    return f"/api/v1/platforms/{platform}/orders"


def is_ok(platform: str, body: Any) -> bool:
    return {"meituan": body == {"data": "ok"}, "eleme": body == {"message": "ok"},
            "generic": isinstance(body, dict) and body.get("received") is True}[platform]


def error_reason(platform: str, body: Any) -> str:
    """The refusal's reason, read from the platform's own error shape."""
    from cloud.platforms.adapters import REASONS

    if platform == "meituan":
        assert body["data"] == "ng" and isinstance(body["error"]["code"], int), body
        return next(r for r, v in REASONS.items() if v[1] == body["error"]["code"])
    if platform == "eleme":
        assert set(body) == {"message", "code"}, body
        return next(r for r, v in REASONS.items() if v[2] == body["code"])
    assert set(body) == {"error", "detail"}, body
    return str(body["error"])
PLATFORMS_UNDER_TEST = ("meituan", "eleme", "generic")
