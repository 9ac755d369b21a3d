"""Custom schemathesis check and hook, loaded with ``SCHEMATHESIS_HOOKS=<this file>``.

At HQ, the platform webhooks are signed here the platform's way (secrets, app ids and shops
from the ``STORENODE_CLOUD_PLATFORMS_*`` environment HQ runs with), so generated orders get
past the signature into the order checks and the database instead of all stopping at 401.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any
from urllib.parse import urlencode

import schemathesis

from cloud.platforms import signing

WEBHOOK = re.compile(r"^/api/v1/platforms/(\w+)/orders$")


def _webhook(case: Any) -> str | None:
    found = WEBHOOK.match(case.operation.path)
    return found[1] if found and case.method.upper() == "POST" else None


@schemathesis.check
def error_body_is_json(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx answer is a JSON object ``{"error": "<code>", ...}`` (a platform webhook:
    a JSON object in that platform's error shape)."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.content[:200]!r}") from None
    if not isinstance(body, dict) or not (_webhook(case) or isinstance(body.get("error"), str)):
        raise AssertionError(f"{response.status_code} answer has no 'error' code: {body!r}")
    return None


def _setting(platform: str, name: str) -> str:
    return os.environ.get(f"STORENODE_CLOUD_PLATFORMS_{platform.upper()}_{name}", "")


def _sign(platform: str, body: dict[str, Any], headers: dict[str, Any]) -> bytes:
    """``body`` (as generated) from the configured app and shop, signed now; the raw body."""
    secret, app_id = _setting(platform, "SECRET"), _setting(platform, "APP_ID")
    shop = _setting(platform, "SHOPS").partition("=")[0]
    now = time.time()
    if platform == "meituan":
        fields = {**body, "app_id": app_id, "app_poi_code": shop, "timestamp": str(int(now))}
        fields["sig"] = signing.meituan_sign(fields, secret)
        return urlencode(fields).encode()
    if platform == "eleme":
        envelope = {**body, "appId": app_id, "shopId": shop, "timestamp": int(now * 1000)}
        envelope["signature"] = signing.eleme_sign(envelope, secret)
        return json.dumps(envelope).encode()
    raw = json.dumps({**body, "shop": shop}).encode()
    headers[signing.GENERIC_HEADER] = signing.hmac_sign(raw, secret, int(now))
    return raw


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    platform = _webhook(case)
    if platform is None or not isinstance(case.body, dict) or not _setting(platform, "SECRET"):
        return  # not a webhook, or a body only a signature check refuses: sent as generated
    case.headers = dict(case.headers or {})
    try:
        case.body = _sign(platform, case.body, case.headers)
    except (TypeError, ValueError):  # a value no platform could sign (a lone surrogate)
        return
