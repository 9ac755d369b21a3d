"""The down changes HQ sends a store (``storenode/v1/{t}/{s}/down``) and the JSON Schema of
each type's ``data``: the edge checks every change against them before it applies it (a change
that fails is refused as ``sync.change_rejected``, never half-applied), and tests check what HQ
publishes against the same schemas. Extra fields are ignored: forward compatible.
docs/sync-protocol.md lists what each change does at the store."""

from __future__ import annotations

from typing import Any, Final

from common.http.body import Validator
from common.price_rules import PRICE_RULE, RULE_ID
from common.reservations import CHANGES as RESERVATION_CHANGES
from common.schemas import (CHANNEL, COUPON_CODE, GUEST_ORDER, IDHASH, ITEM_PROPS,
                            MEMBER_ID, ORDER_LINE, PROFILE, QUOTAS, REF, SKU, TABLE_TOKEN,
                            ULID_PATTERN)
from common.vocabulary import (ACCOUNTS, CHANNELS, COUPON_KINDS, COUPON_STATES, ENTRY_KINDS,
                               ID_KINDS, MAX_LINES, MAX_STOCK_MOVE, MOVEMENT_REASONS,
                               OLD_BOX)

_RATE = {"type": "number", "minimum": 0, "maximum": 1000}
_CHANNEL_RATES = {"type": "object", "propertyNames": CHANNEL, "additionalProperties": _RATE}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_HQ_ITEM = {k: v for k, v in ITEM_PROPS.items() if k not in ("available", "track_stock")}
# what the edge accepts from HQ, per change type (extra fields are ignored: forward compatible)
CHANGE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "catalog.item": {"type": "object", "required": ["sku", "name", "category", "station",
                                                    "price_cents"],
                     "properties": {"sku": SKU, **_HQ_ITEM}},
    "inventory.quotas": {"type": "object", "required": ["sku", "quotas"],
                         "properties": {"sku": SKU,
                                        "quotas": {**QUOTAS, "minProperties": 0}}},
    "stock.adjust": {"type": "object", "required": ["sku", "delta"],
                     "properties": {"sku": SKU,
                                    # 0: an HQ stocktake that found what HQ expected
                                    "delta": {"type": "integer", "minimum": -MAX_STOCK_MOVE,
                                              "maximum": MAX_STOCK_MOVE},
                                    "reason": {"enum": [*MOVEMENT_REASONS, OLD_BOX]},
                                    "ref": {"type": ["string", "null"], "maxLength": 64}}},
}

# -- members (docs/members.md, "HQ -> edge changes") ---------------------------------------
_TIME = {"type": "string", "maxLength": 40,
         "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)(?!\n)$"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10**12}
_HLC = {"type": "string", "minLength": 1, "maxLength": 64}
_IDENTITY = {"type": "object", "required": ["kind", "idhash"], "properties": {
    "kind": {"enum": list(ID_KINDS)}, "idhash": IDHASH,
    "last4": {"type": ["string", "null"], "pattern": r"^[0-9]{4}(?!\n)$"}}}
# a shrink or revoke asks for ``lease.acked {lease_id, rev}`` (docs/members.md)
_LEASE_ACK = {"rev": {"type": "integer", "minimum": 1}, "ack": {"type": "boolean"}}
CHANGE_SCHEMAS.update({
    "tenant.key": {"type": "object", "required": ["key"], "properties": {
        "key": {"type": "string", "pattern": r"^[A-Za-z0-9+/]{43}=(?!\n)$"}}},  # 32 bytes
    "member.upsert": {"type": "object", "required": ["member"], "properties": {
        "member": {"type": "object", "required": ["id", "hlc"], "properties": {
            "id": MEMBER_ID, "hlc": {**_HLC, "type": ["string", "null"]}, "origin": {"type": "string", "maxLength": 64},
            "created_at": _TIME, **PROFILE}},
        "identities": {"type": "array", "maxItems": 20, "items": _IDENTITY}}},
    "member.merged": {"type": "object", "required": ["from", "into"], "properties": {
        "from": MEMBER_ID, "into": MEMBER_ID}},
    # the answer to a store's member.sought when no member of the tenant has the identity
    "member.unknown": {"type": "object", "required": ["idhash"], "properties": {
        "idhash": IDHASH}},
    # HQ erased the member (and those merged into it): identifiers and profile go everywhere
    "member.erased": {"type": "object", "required": ["member", "ids"], "properties": {
        "member": MEMBER_ID, "ids": {"type": "array", "maxItems": 100, "items": MEMBER_ID}}},
    "ledger.entry": {"type": "object", "required": [
        "entry_id", "member", "account", "kind", "amount", "at", "hlc"], "properties": {
        "entry_id": REF, "member": MEMBER_ID,
        "account": {"enum": list(ACCOUNTS)},
        "kind": {"enum": sorted({k for ks in ENTRY_KINDS.values() for k in ks})},
        "amount": {"type": "integer", "minimum": -10**12, "maximum": 10**12},
        "store": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},  # null: HQ
        "order_id": {"type": ["string", "null"], "maxLength": 64},
        "lease_id": {"type": ["string", "null"], "maxLength": 64}, "at": _TIME, "hlc": _HLC}},
    "lease.granted": {"type": "object", "required": [
        "lease_id", "member", "points", "value", "per_txn_points", "per_txn_value",
        "expires_at"], "properties": {
        "lease_id": REF, "member": MEMBER_ID, "points": _COUNT, "value": _COUNT,
        "per_txn_points": _COUNT, "per_txn_value": _COUNT, "expires_at": _TIME,
        **_LEASE_ACK}, "dependentRequired": {"ack": ["rev"]}},
    "lease.revoked": {"type": "object", "required": ["lease_id"],
                      "properties": {"lease_id": REF, **_LEASE_ACK},
                      "dependentRequired": {"ack": ["rev"]}},
    "loyalty.rules": {"type": "object", "required": ["default"], "properties": {
        "default": _RATE, "channels": _CHANNEL_RATES,
        # the store's own entry (docs/members.md, "Earning rules"); others' are not sent
        "stores": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "multiplier": _RATE, "channels": _CHANNEL_RATES}}}}},
    "coupon.template": {"type": "object", "required": [
        "template_id", "kind", "value", "valid_from", "valid_to"], "properties": {
        "template_id": REF, "kind": {"enum": list(COUPON_KINDS)},
        "value": _COUNT, "min_spend": {"type": ["integer", "null"], "minimum": 0},
        "sku": {"anyOf": [SKU, {"type": "null"}]},
        "channels": {"type": ["array", "null"], "items": CHANNEL},
        "stores": {"type": ["array", "null"], "items": {"type": "string", "maxLength": 64}},
        "valid_from": _TIME, "valid_to": _TIME,
        "exclusive_group": {"type": ["string", "null"], "maxLength": 64}},
        "if": {"properties": {"kind": {"const": "free_item"}}},
        "then": {"required": ["sku"], "properties": {"sku": SKU}},
        "else": {"if": {"properties": {"kind": {"const": "percent_off"}}},
                 "then": {"properties": {"value": {"maximum": 100}}}}},
    "coupon.issued": {"type": "object", "required": ["code", "template_id", "issued_at"],
                      "properties": {"code": COUPON_CODE, "template_id": REF,
                                     "member": {"anyOf": [MEMBER_ID, {"type": "null"}]},
                                     "issued_at": _TIME, "state": {"const": "issued"}}},
    "coupon.state": {"type": "object", "required": ["code", "state"], "properties": {
        "code": COUPON_CODE, "state": {"enum": list(COUPON_STATES)},
        "redeemed_store": {"type": ["string", "null"], "maxLength": 64},
        "order_id": {"type": ["string", "null"], "maxLength": 64}}},
    "reco.pairs": {"type": "object", "required": ["pairs"], "properties": {
        "pairs": {"type": "array", "maxItems": 100_000, "items": {
            "type": "object", "required": ["a", "b", "support", "confidence", "lift"],
            "properties": {"a": SKU, "b": SKU, "support": _SHARE,
                           "confidence": _SHARE, "lift": {"type": "number", "minimum": 0}}}}}},
})
# a time-window price rule HQ set ({"id", "rule"}) or deleted ({"id", "deleted": true})
CHANGE_SCHEMAS["price_rule"] = {
    "type": "object", "required": ["id"], "properties": {
        "id": RULE_ID, "rule": PRICE_RULE, "deleted": {"const": True}},
    "oneOf": [{"required": ["rule"], "not": {"required": ["deleted"]}},
              {"required": ["deleted"], "not": {"required": ["rule"]}}]}
# a delivery-platform order HQ accepted, placed through the order center (cloud/platforms)
CHANGE_SCHEMAS["platform.order"] = {
    "type": "object", "required": ["platform", "platform_order_id", "channel", "lines",
                                   "idempotency_key"], "properties": {
        "platform": {"type": "string", "minLength": 1, "maxLength": 32},
        "platform_order_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "channel": {"enum": [c for c, kind in CHANNELS.items() if kind["platform"]]},
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES,
                  "items": ORDER_LINE},
        "idempotency_key": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{8,128}(?!\n)$"}}}
# a guest's order HQ relayed (cloud/guests): the table's token, the guest's key and body
CHANGE_SCHEMAS["guest.order"] = {
    "type": "object", "required": ["token", "idempotency_key", "body"], "properties": {
        "token": {"type": "string", "pattern": TABLE_TOKEN.pattern},
        "idempotency_key": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{8,128}(?!\n)$"},
        "body": GUEST_ORDER}}
# a rating HQ took for one of the store's orders (cloud/feedback, edge/feedback)
CHANGE_SCHEMAS["feedback.rated"] = {
    "type": "object", "required": ["order_id", "score"], "properties": {
        "order_id": {"type": "string", "pattern": ULID_PATTERN},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "comment": {"type": "string", "maxLength": 2000},
        "number": {"type": ["integer", "null"]}, "alert": {"type": "boolean"}}}
# bookings HQ took for the store (cloud/reservations, edge/reservations)
CHANGE_SCHEMAS.update(RESERVATION_CHANGES)
_VALIDATORS = {kind: Validator(schema) for kind, schema in CHANGE_SCHEMAS.items()}


def check_change(change: dict[str, Any]) -> str | None:
    """Why a change from HQ cannot be applied as it is, or None."""
    validator = _VALIDATORS.get(change["type"])
    if validator is None:
        return f"unknown change type {change['type']!r}"
    error = next(iter(validator.iter_errors(change["data"])), None)
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        return f"invalid {path or 'data'}: {error.message[:160]}"
    return None
