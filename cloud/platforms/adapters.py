"""One adapter per platform: read its webhook (envelope, signature, order), answer in its
shape, and build its status callbacks. The adapters are data (``ADAPTERS``), not classes.

Every inbound order becomes one *unified order*::

    {"platform_order_id", "lines": [{"sku", "qty", "unit_cents", "note"?}],
     "total_cents", "note"?}

Checks, in order: envelope parse (``malformed``), signature (``bad_signature``), timestamp
within ``max_skew_s`` either way (``stale``), the order's shape (``malformed``). The request
id, shop, SKUs and pause state are checked by the caller against the database.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from cloud.platforms import signing
from cloud.platforms.settings import Platform
from common import wire
from common.http.body import Validator
from common.schemas import SKU
from common.vocabulary import MAX_LINES, MAX_QTY

# reason -> (HTTP status, Meituan-style error code, Eleme-style error code)
REASONS: Final[dict[str, tuple[int, int, str]]] = {
    "malformed": (400, 701, "INVALID_BODY"),
    "too_large": (413, 702, "BODY_TOO_LARGE"),
    "bad_signature": (401, 703, "SIGN_ERROR"),
    "stale": (401, 704, "TIMESTAMP_EXPIRED"),
    "replayed": (409, 705, "DUPLICATE_REQUEST"),
    "unknown_store": (404, 706, "SHOP_NOT_FOUND"),
    "unknown_sku": (422, 707, "ITEM_NOT_FOUND"),
    "paused": (503, 708, "SHOP_CLOSED"),
    "disabled": (404, 709, "APP_NOT_FOUND"),
    "unavailable": (503, 710, "SERVICE_UNAVAILABLE"),
}
ID_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,64}$"
_NOTE = {"type": "string", "maxLength": 200}
UNIFIED_ORDER: Final[dict[str, Any]] = {
    "type": "object", "required": ["platform_order_id", "lines", "total_cents"],
    "properties": {
        "platform_order_id": {"type": "string", "pattern": ID_PATTERN},
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": {
            "type": "object", "required": ["sku", "qty", "unit_cents"], "properties": {
                "sku": SKU, "qty": {"type": "integer", "minimum": 1, "maximum": MAX_QTY},
                "unit_cents": {"type": "integer", "minimum": 0, "maximum": 10**8},
                "note": _NOTE}}},
        "total_cents": {"type": "integer", "minimum": 0, "maximum": 10**10},
        "note": _NOTE}}
_ORDER = Validator(UNIFIED_ORDER)  # an integer is an int: 2.0 is refused


class Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Inbound:
    request_id: str
    timestamp: float         # Unix seconds, as the platform signed it
    shop: str
    order: dict[str, Any]    # the unified order


@dataclass(frozen=True)
class Outbound:
    """A status callback to send: POST ``body`` with ``headers`` to the platform."""

    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Adapter:
    read: Callable[[bytes, Mapping[str, str], Platform, float, int], Inbound]
    ok: Callable[[str, str], dict[str, Any]]            # (platform order id, outcome)
    error: Callable[[str, str], dict[str, Any]]         # (reason, detail)
    callback: Callable[[Platform, str, str, str, float], Outbound]  # order, status, reason
    callback_ok: Callable[[int, bytes], bool]           # (HTTP status, body)
    # the webhook request, for the OpenAPI document: body schema, its media type, headers
    request: dict[str, Any]
    media_type: str = "application/json"
    headers: dict[str, Any] = field(default_factory=dict)


def _fresh(stamp: float, now: float, skew: int) -> None:
    if abs(now - stamp) > skew:
        raise Rejected("stale", f"timestamp {stamp:.0f} is more than {skew} s from now")


def _order(order: dict[str, Any]) -> dict[str, Any]:
    problem = next(iter(_ORDER.iter_errors(order)), None)
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "order"
        raise Rejected("malformed", f"{where}: {problem.message[:160]}")
    return order


def _json(raw: bytes | str, what: str) -> Any:
    try:
        return wire.loads(raw)  # lone surrogates and deep nesting too
    except ValueError as exc:
        raise Rejected("malformed", f"{what} is not JSON: {exc}") from exc


def _str_field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise Rejected("malformed", f"{name} missing or not a string")
    return value


def _request_id(value: str) -> str:
    if len(value) > 128 or not value.isprintable():
        raise Rejected("malformed", "request id of more than 128 characters")
    return value


# -- Meituan-style: form fields, md5 sig -----------------------------------------------
MEITUAN_FIELDS: Final = ("app_id", "timestamp", "request_id", "app_poi_code", "order_id",
                         "detail", "total", "sig")


def meituan_read(raw: bytes, headers: Mapping[str, str], platform: Platform, now: float,
                 skew: int) -> Inbound:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected("malformed", "not a form body") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Rejected("malformed", "a field is repeated")
    for name in MEITUAN_FIELDS:
        _str_field(fields, name)
    if not signing.equal(signing.meituan_sign(fields, platform.secret), fields["sig"]) \
            or (platform.app_id and fields["app_id"] != platform.app_id):
        raise Rejected("bad_signature", "sig does not match")
    stamp = _digits(fields, "timestamp", 12, "Unix seconds")
    _fresh(stamp, now, skew)
    detail = _json(fields["detail"], "detail")
    if not isinstance(detail, list):
        raise Rejected("malformed", "detail is not a list")
    lines = [{"sku": d.get("app_food_code"), "qty": d.get("quantity"),
              "unit_cents": d.get("price"), **({"note": d["remark"]} if "remark" in d else {})}
             if isinstance(d, dict) else d for d in detail]
    order = {"platform_order_id": fields["order_id"], "lines": lines,
             "total_cents": _digits(fields, "total", 12, "fen"),
             **({"note": fields["caution"]} if fields.get("caution") else {})}
    return Inbound(_request_id(fields["request_id"]), stamp, fields["app_poi_code"],
                   _order(order))


def _digits(fields: Mapping[str, str], name: str, max_len: int, what: str) -> int:
    """A form field of ASCII digits ("²".isdigit() is True and int("²") fails)."""
    try:
        return wire.digits(fields[name], max_len)
    except ValueError as exc:
        raise Rejected("malformed", f"{name} is not {what}") from exc


def meituan_callback(platform: Platform, order_id: str, status: str, reason: str,
                     now: float) -> Outbound:
    fields = {"app_id": platform.app_id, "timestamp": str(int(now)), "order_id": order_id,
              "status": status, "reason": reason}
    fields["sig"] = signing.meituan_sign(fields, platform.secret)
    return Outbound({"Content-Type": "application/x-www-form-urlencoded"},
                    urlencode(fields).encode())


def _json_ok(key: str, value: str) -> Callable[[int, bytes], bool]:
    def ok(status: int, body: bytes) -> bool:
        try:
            return 200 <= status < 300 and wire.loads(body).get(key) == value
        except (ValueError, AttributeError):
            return False
    return ok


def _strings(names: tuple[str, ...], **described: str) -> dict[str, Any]:
    return {n: {"type": "string", **({"description": described[n]} if n in described else {})}
            for n in names}


MEITUAN_REQUEST: Final = {
    "type": "object", "required": list(MEITUAN_FIELDS),
    "properties": _strings(
        (*MEITUAN_FIELDS, "caution"), timestamp="Unix seconds", total="fen",
        detail="JSON list of {app_food_code, quantity, price (fen), remark?}",
        sig="MD5 of the other fields sorted as k=v&k=v, then the secret (docs/platforms.md)")}
MEITUAN = Adapter(
    read=meituan_read, request=MEITUAN_REQUEST,
    media_type="application/x-www-form-urlencoded",
    ok=lambda order_id, outcome: {"data": "ok"},
    error=lambda reason, detail: {"data": "ng", "error": {"code": REASONS[reason][1],
                                                          "msg": f"{reason}: {detail}"}},
    callback=meituan_callback, callback_ok=_json_ok("data", "ok"))


# -- Eleme-style: JSON envelope, message as a JSON string, SHA-256 signature ---------------
def eleme_read(raw: bytes, headers: Mapping[str, str], platform: Platform, now: float,
               skew: int) -> Inbound:
    envelope = _json(raw, "body")
    if not isinstance(envelope, dict):
        raise Rejected("malformed", "body is not an object")
    for name in ("requestId", "type", "appId", "shopId", "message", "signature"):
        _str_field(envelope, name)
    stamp = envelope.get("timestamp")
    if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 < stamp < 10**15:
        raise Rejected("malformed", "timestamp is not Unix milliseconds")
    if not signing.equal(signing.eleme_sign(envelope, platform.secret), envelope["signature"]) \
            or (platform.app_id and envelope["appId"] != platform.app_id):
        raise Rejected("bad_signature", "signature does not match")
    _fresh(stamp / 1000, now, skew)
    if envelope["type"] != "order.created":
        raise Rejected("malformed", f"type {envelope['type'][:40]!r} is not order.created")
    message = _json(envelope["message"], "message")
    if not isinstance(message, dict) or not isinstance(message.get("items"), list):
        raise Rejected("malformed", "message has no items list")
    lines = [{"sku": i.get("extendCode"), "qty": i.get("quantity"), "unit_cents": i.get("price"),
              **({"note": i["remark"]} if "remark" in i else {})}
             if isinstance(i, dict) else i for i in message["items"]]
    order = {"platform_order_id": message.get("orderId"), "lines": lines,
             "total_cents": message.get("totalPrice"),
             **({"note": message["description"]} if message.get("description") else {})}
    return Inbound(_request_id(envelope["requestId"]), stamp / 1000, envelope["shopId"],
                   _order(order))


def eleme_callback(platform: Platform, order_id: str, status: str, reason: str,
                   now: float) -> Outbound:
    envelope: dict[str, Any] = {
        "requestId": uuid.uuid4().hex, "type": "order.status", "appId": platform.app_id,
        "timestamp": int(now * 1000),
        "message": json.dumps({"orderId": order_id, "status": status, "reason": reason},
                              separators=(",", ":"))}
    envelope["signature"] = signing.eleme_sign(envelope, platform.secret)
    return Outbound({"Content-Type": "application/json"}, json.dumps(envelope).encode())


ELEME_REQUEST: Final = {
    "type": "object",
    "required": ["requestId", "type", "appId", "shopId", "timestamp", "message", "signature"],
    "properties": {
        **_strings(("requestId", "appId", "shopId"),),
        "type": {"type": "string", "enum": ["order.created"]},
        "timestamp": {"type": "integer", "description": "Unix milliseconds"},
        **_strings(("message", "signature"),
                   message="JSON text: {orderId, items: [{extendCode, quantity, price, "
                           "remark?}], totalPrice, description?}",
                   signature="SHA-256 (docs/platforms.md)")}}
ELEME = Adapter(
    read=eleme_read, request=ELEME_REQUEST,
    ok=lambda order_id, outcome: {"message": "ok"},
    error=lambda reason, detail: {"message": f"{reason}: {detail}", "code": REASONS[reason][2]},
    callback=eleme_callback, callback_ok=_json_ok("message", "ok"))


# -- generic: raw JSON body, HMAC-SHA256 header -------------------------------------------
def generic_read(raw: bytes, headers: Mapping[str, str], platform: Platform, now: float,
                 skew: int) -> Inbound:
    try:
        stamp, signatures = signing.parse_hmac_header(headers.get(signing.GENERIC_HEADER, ""))
    except ValueError as exc:
        raise Rejected("bad_signature", f"{signing.GENERIC_HEADER}: {exc}") from exc
    if not signing.hmac_valid(raw, platform.secret, stamp, signatures):
        raise Rejected("bad_signature", "no v1 matches the body")
    _fresh(stamp, now, skew)
    body = _json(raw, "body")
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise Rejected("malformed", "body has no order object")
    if body.get("type") != "order.created":
        raise Rejected("malformed", "type is not order.created")
    order = dict(body["order"])
    order["platform_order_id"] = order.pop("id", None)
    return Inbound(_request_id(_str_field(body, "id")), stamp, _str_field(body, "shop"),
                   _order(order))


def generic_callback(platform: Platform, order_id: str, status: str, reason: str,
                     now: float) -> Outbound:
    body = json.dumps({"id": uuid.uuid4().hex, "type": "order.status", "order_id": order_id,
                       "status": status, "reason": reason}, separators=(",", ":")).encode()
    return Outbound({"Content-Type": "application/json",
                     signing.GENERIC_HEADER: signing.hmac_sign(body, platform.secret, int(now))},
                    body)


GENERIC_REQUEST: Final = {
    "type": "object", "required": ["id", "type", "shop", "order"],
    "properties": {
        **_strings(("id", "shop")), "type": {"type": "string", "enum": ["order.created"]},
        "order": {**UNIFIED_ORDER, "required": ["id", "lines", "total_cents"], "properties": {
            ("id" if k == "platform_order_id" else k): v
            for k, v in UNIFIED_ORDER["properties"].items()}}}}
GENERIC = Adapter(
    read=generic_read, request=GENERIC_REQUEST,
    headers={signing.GENERIC_HEADER: {"type": "string", "description": "t=<unix s>,v1=<hex "
                                      "HMAC-SHA256 of '<t>.' + the raw body>"}},
    ok=lambda order_id, outcome: {"received": True, "order": order_id, "outcome": outcome},
    error=lambda reason, detail: {"error": reason, "detail": detail},
    callback=generic_callback, callback_ok=lambda status, body: 200 <= status < 300)

ADAPTERS: Final[dict[str, Adapter]] = {"meituan": MEITUAN, "eleme": ELEME, "generic": GENERIC}


def now() -> float:
    return time.time()
