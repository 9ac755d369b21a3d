"""Hostile webhook input that used to answer 500, on SQLite and PostgreSQL: text that is no
ASCII where the signature is compared, Unicode digits where a number is read, lone UTF-16
surrogates and floats in correctly signed bodies. Each is refused in the platform's shape
and recorded; nothing is forwarded."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient

from cloud.platforms import signing
from tests.conftest import Api

from . import signed
from .test_webhooks import db, feed, post


def meituan(**changes: str) -> tuple[dict[str, str], bytes]:
    """A Meituan request with ``changes`` to its form fields, signed after them."""
    headers, body = signed.request("meituan", signed.order())
    fields = {**dict(parse_qsl(body.decode())), **changes}
    fields["sig"] = signing.meituan_sign(fields, signed.SECRETS["meituan"])
    return headers, urlencode(fields).encode()


def eleme(envelope_changes: dict[str, Any] | None = None,
          **message_changes: Any) -> tuple[dict[str, str], bytes]:
    """An Eleme request with changes to its message signed, then changes to its envelope
    (no one can sign a lone surrogate: HQ's signature check raised on it)."""
    headers, body = signed.request("eleme", signed.order())
    envelope = json.loads(body)
    envelope["message"] = json.dumps({**json.loads(envelope["message"]), **message_changes})
    envelope["signature"] = signing.eleme_sign(envelope, signed.SECRETS["eleme"])
    envelope.update(envelope_changes or {})
    return headers, json.dumps(envelope).encode()  # ASCII: a surrogate as "\\udc00"


def generic_signed_as(header: str) -> tuple[dict[str, str], bytes]:
    headers, body = signed.request("generic", signed.order())
    return {**headers, signing.GENERIC_HEADER: header}, body


CASES: dict[str, tuple[str, Any, str]] = {  # name: (platform, request maker, reason)
    "non-ASCII v1": ("generic", lambda: generic_signed_as(f"t={int(time.time())},v1=éé"),
                     "bad_signature"),
    "Unicode digit t": ("generic", lambda: generic_signed_as("t=²,v1=00"), "bad_signature"),
    "Unicode digit total": ("meituan", lambda: meituan(total="²"), "malformed"),
    "Arabic-Indic total": ("meituan", lambda: meituan(total="٣٠٠٠"), "malformed"),
    "Unicode digit timestamp": ("meituan", lambda: meituan(timestamp="²"), "malformed"),
    "surrogate remark": ("meituan", lambda: meituan(
        detail='[{"app_food_code":"C001","quantity":2,"price":1500,"remark":"\\udc00"}]'),
        "malformed"),
    "float quantity": ("meituan", lambda: meituan(
        detail='[{"app_food_code":"C001","quantity":2.0,"price":1500}]'), "malformed"),
    "surrogate note": ("generic", lambda: signed.request(
        "generic", signed.order(note="\udc00")), "malformed"),
    "float qty": ("generic", lambda: signed.request(
        "generic", signed.order(lines=[("C001", 2.0, 1500)])), "malformed"),  # type: ignore[list-item]
    "surrogate description": ("eleme", lambda: eleme(description="\ud800"), "malformed"),
    "surrogate in the envelope": ("eleme", lambda: eleme({"type": "\udc00"}), "malformed"),
    "float unit price": ("eleme", lambda: signed.request(
        "eleme", signed.order(lines=[("C001", 2, 1500.0)])), "malformed"),  # type: ignore[list-item]
}


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_input_is_refused_in_the_platform_shape(hq: TestClient, admin: Api,
                                                              case: str) -> None:
    platform, make, reason = CASES[case]
    headers, body = make()
    before = await feed(hq)
    status, answer = await post(hq, platform, headers, body)
    assert signed.error_reason(platform, answer) == reason, (status, answer)
    assert status == {"bad_signature": 401, "malformed": 400}[reason]
    assert await feed(hq) == before
    rejects = await db(hq, "platform_rejects")
    assert (rejects[0]["platform"], rejects[0]["reason"]) == (platform, reason)
