"""Request bodies and query parameters of the HQ API, as JSON Schema (validation + OpenAPI).

Catalog items are validated exactly like the edge's items (the same field schemas).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Final, cast

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.names import ID
from common.clock import iso
from common.http.body import read_body, validate
from common.schemas import ITEM_CREATE, QUOTAS, SKU

__all__ = ["CATALOG_ITEM", "LOGIN", "QUOTAS", "STOCKTAKE", "read_body", "validate"]

ROLES: Final = ("hq_admin", "analyst")
ID_SCHEMA = {"type": "string", "pattern": ID.pattern}
USER_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}(?!\n)$"}
# the HQ-owned item fields (docs/sync-protocol.md, catalog.item); availability stays the store's
ITEM_FIELDS: Final = ("name", "name_en", "category", "station", "price_cents", "cost_cents",
                      "channel_prices")
CATALOG_ITEM = {
    "type": "object",
    "required": ["name", "category", "station", "price_cents"],
    "additionalProperties": False,
    "properties": {k: cast(dict[str, Any], ITEM_CREATE["properties"])[k] for k in ITEM_FIELDS},
}
LOGIN = {
    "type": "object",
    "required": ["user", "password"],
    "additionalProperties": False,
    "properties": {"user": USER_ID,
                   "password": {"type": "string", "minLength": 1, "maxLength": 1024}},
}
STOCKTAKE = {
    "type": "object",
    "required": ["counted"],
    "additionalProperties": False,
    "properties": {"counted": {"type": "integer", "minimum": 0, "maximum": 1_000_000}},
}
STORES_QUERY: dict[str, dict[str, Any]] = {"stores": {"type": "string", "description": "comma-separated store ids; "
                           "absent: every store, now and added later"}}


IDEMPOTENCY_KEY: Final = re.compile(r"^[A-Za-z0-9_.:-]{8,128}(?!\n)$")
IDEMPOTENCY = {"Idempotency-Key": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}}


def idempotency_key(request: web.Request, required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None and not required:
        return None
    if key is None or not IDEMPOTENCY_KEY.match(key):
        raise ApiError(422, "idempotency_key_required",
                       "send an Idempotency-Key header of 8-128 characters [A-Za-z0-9_.:-]")
    return key


def path_id(request: web.Request, name: str = "store") -> str:
    value = request.match_info[name]
    if not ID.match(value):
        raise ApiError(404, f"unknown_{name}", value[:100])
    return value


def path_sku(request: web.Request) -> str:
    sku = request.match_info["sku"]
    validate(sku, SKU)
    return sku


def query_stores(request: web.Request) -> list[str] | None:
    """``?stores=s1,s2`` → ``["s1", "s2"]``; absent → None (every store)."""
    if "stores" not in request.query:
        return None
    names = request.query["stores"].split(",")
    bad = [n for n in names if not ID.match(n)]
    if bad:
        raise ApiError(400, "bad_query", {"stores": f"not store ids: {bad[:10]}"})
    return names


def query_limit(request: web.Request, default: int = 200, high: int = 1000) -> int:
    text = request.query.get("limit")
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= high:
        raise ApiError(400, "bad_query", {"limit": f"an integer from 1 to {high}"})
    return int(text)


def query_since(request: web.Request) -> str | None:
    """``?since=`` as the stored UTC form (``2026-01-01T12:00:00.000Z``)."""
    text = request.query.get("since")
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso(moment)
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, "bad_query", {"since": "an ISO 8601 date-time"}) from exc


def query_day(request: web.Request, name: str) -> str:
    """``?{name}=YYYY-MM-DD`` (ASCII digits only), else 400 ``bad_query``."""
    text = request.query.get(name, "")
    try:
        if len(text) != 10 or not text.isascii():
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ApiError(400, "bad_query", {name: "YYYY-MM-DD"}) from None


# the query of a report over days and stores (read with query_days and query_stores)
DAYS_AND_STORES: Final[dict[str, Any]] = {
    "from": {"type": "string"}, "to": {"type": "string"}, "stores": {"type": "string"}}


def query_days(request: web.Request) -> tuple[str, str]:
    """``?from=&to=`` days, ``to`` on or after ``from``."""
    since, until = query_day(request, "from"), query_day(request, "to")
    if until < since:
        raise ApiError(400, "bad_query", {"to": "on or after from"})
    return since, until
