"""Request bodies and queries of the HQ member, coupon and loyalty routes (docs/members.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.api.schemas import ID_SCHEMA
from cloud.api.schemas import IDEMPOTENCY as IDEMPOTENCY
from cloud.api.schemas import IDEMPOTENCY_KEY as IDEMPOTENCY_KEY
from cloud.api.schemas import idempotency_key as idempotency_key
from common.clock import iso
from common.schemas import CHANNEL, SKU

MEMBER_ID: Final = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}(?!\n)$")
IDHASH: Final = re.compile(r"^[0-9a-f]{64}(?!\n)$")
NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(?!\n)$"}
STORE_LIST = {"type": "array", "items": ID_SCHEMA, "minItems": 1, "maxItems": 500,
              "uniqueItems": True}
# what HQ may write to a ledger, per account; the sign each kind needs (0: either)
HQ_KINDS: Final[dict[str, dict[str, int]]] = {
    "points": {"earn": 1, "adjust": 0},
    "value": {"topup": 1, "refund": 1, "adjust": 0},
}
LEDGER_POST = {
    "type": "object",
    "required": ["account", "kind", "amount"],
    "additionalProperties": False,
    "properties": {
        "account": {"type": "string", "enum": list(HQ_KINDS)},
        "kind": {"type": "string", "enum": sorted({k for v in HQ_KINDS.values() for k in v})},
        "amount": {"type": "integer", "minimum": -100_000_000, "maximum": 100_000_000,
                   "not": {"const": 0}},
        "note": {"type": "string", "maxLength": 200},
    },
}
TEMPLATE = {
    "type": "object",
    "required": ["kind", "value", "valid_from", "valid_to"],
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "string",
                 "enum": ["amount_off", "percent_off", "free_item", "threshold"]},
        "value": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
        "min_spend": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
        "sku": SKU,
        "channels": {"type": "array", "items": CHANNEL, "minItems": 1, "uniqueItems": True},
        "stores": STORE_LIST,
        "valid_from": {"type": "string", "maxLength": 40},
        "valid_to": {"type": "string", "maxLength": 40},
        "exclusive_group": NAME,
    },
}
ISSUE = {
    "type": "object",
    "required": ["template_id"],
    "additionalProperties": False,
    "properties": {
        "template_id": NAME,
        "members": {"type": "array", "maxItems": 1000, "uniqueItems": True,
                    "items": {"type": "string", "pattern": MEMBER_ID.pattern}},
        "count": {"type": "integer", "minimum": 0, "maximum": 1000},
        "store_scope": STORE_LIST,
    },
}
CAMPAIGN = {
    "type": "object",
    "required": ["from_store", "to_store", "min_total_cents", "template_id"],
    "additionalProperties": False,
    "properties": {"from_store": ID_SCHEMA, "to_store": ID_SCHEMA, "template_id": NAME,
                   "min_total_cents": {"type": "integer", "minimum": 0,
                                       "maximum": 100_000_000},
                   "active": {"type": "boolean"}},
}
RATE = {"type": "number", "minimum": 0, "maximum": 100}
CHANNEL_RATES = {"type": "object", "propertyNames": CHANNEL, "additionalProperties": RATE}
# one store's rules: its own rate per channel, and a multiplier of the tenant-wide rates
STORE_RULE = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {"multiplier": {"type": "number", "minimum": 0, "maximum": 10},
                   "channels": {**CHANNEL_RATES, "minProperties": 1}},
}
LOYALTY_RULES = {
    "type": "object",
    "required": ["default"],
    "additionalProperties": False,
    "properties": {"default": RATE, "channels": CHANNEL_RATES,
                   "stores": {"type": "object", "maxProperties": 10_000,
                              "propertyNames": ID_SCHEMA, "additionalProperties": STORE_RULE}},
}
EXPIRE = {
    "type": "object",
    "required": ["months"],
    "additionalProperties": False,
    "properties": {"months": {"type": "integer", "minimum": 1, "maximum": 120}},
}
MEMBERS_QUERY: dict[str, dict[str, Any]] = {
    "phone_hash": {"type": "string", "pattern": IDHASH.pattern},
    "id": {"type": "string", "pattern": MEMBER_ID.pattern},
}


def path_name(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not re.match(NAME["pattern"], value):
        raise ApiError(404, f"unknown_{name}", value[:100])
    return value


def path_member(request: web.Request) -> str:
    value = request.match_info["member"]
    if not MEMBER_ID.match(value):
        raise ApiError(404, "unknown_member", value[:100])
    return value


def window(body: dict[str, Any]) -> dict[str, Any]:
    """``valid_from`` / ``valid_to`` as stored UTC times, from before to; 422 otherwise."""
    found = {}
    for key in ("valid_from", "valid_to"):
        try:
            moment = datetime.fromisoformat(body[key])
            found[key] = iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except (ValueError, OverflowError) as exc:
            raise ApiError(422, "invalid_body", [{"path": key, "message":
                                                  "an ISO 8601 date-time"}]) from exc
    if found["valid_from"] >= found["valid_to"]:
        raise ApiError(422, "invalid_body", [{"path": "valid_to",
                                              "message": "must be after valid_from"}])
    return {**body, **found}


def ledger_kind(body: dict[str, Any]) -> None:
    sign = HQ_KINDS[body["account"]].get(body["kind"])
    if sign is None or sign * body["amount"] < 0:
        raise ApiError(422, "invalid_body", [{"path": "kind", "message":
                                              f"{body['kind']} with a {body['account']} amount"
                                              f" of {body['amount']} is not allowed"}])
