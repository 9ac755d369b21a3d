"""JSON Schemas of the member routes' request bodies."""

from __future__ import annotations

from typing import Final

from common.referrals import REFERRAL_CODE
from common.schemas import CENTS, PROFILE, SKU, ULID_PATTERN
from common.vocabulary import ID_KINDS

from edge.members.rules import TENDERS

MEMBER_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "phone": {"type": "string", "minLength": 1, "maxLength": 32},
        "code": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{4,64}(?!\n)$"},
        "unionid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{8,64}(?!\n)$"},
        "referral": REFERRAL_CODE,  # another member's referral code: HQ rewards both
        **PROFILE,
    },
    "anyOf": [{"required": ["phone"]}, {"required": ["code"]}, {"required": ["unionid"]}],
}
REDEEM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "points": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "value_cents": {**CENTS, "minimum": 1},
        "order_id": {"type": ["string", "null"], "pattern": ULID_PATTERN},
    },
    "oneOf": [{"required": ["points"], "not": {"required": ["value_cents"]}},
              {"required": ["value_cents"], "not": {"required": ["points"]}}],
}
TOPUP = {
    "type": "object",
    "required": ["value_cents", "tender"],
    "additionalProperties": False,
    "properties": {"value_cents": {**CENTS, "minimum": 1}, "tender": {"enum": list(TENDERS)}},
}
MAX_VIEWED_SKUS: Final = 20
MEMBER_IDENTITY = {
    "type": "object",
    "required": ["kind", "value"],
    "additionalProperties": False,
    "properties": {"kind": {"enum": list(ID_KINDS)},
                   "value": {"type": "string", "minLength": 1, "maxLength": 64}},
}
MEMBER_PATCH = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        **PROFILE,  # a real day for a birthday: see the API
        "name": {**PROFILE["name"], "minLength": 1},
    },
}
MEMBER_VIEWED = {
    "type": "object",
    "required": ["skus"],
    "additionalProperties": False,
    "properties": {"skus": {"type": "array", "minItems": 1, "maxItems": MAX_VIEWED_SKUS,
                            "items": SKU}},
}
