"""The campaign sources (declared once, as data) and the bodies of the campaign routes."""

from __future__ import annotations

from typing import Any, Final, TypedDict


class Source(TypedDict):
    zh: str  # its name on pages, in Chinese and in English
    en: str


# where a campaign's traffic comes from; a new source is one row here (the API validates
# against it, GET /api/v1/campaigns serves it to the pages). ``partner``: cross traffic from a
# partner business, e.g. a canteen and the convenience store next to it sending each other's
# guests with a QR on the tray or the receipt.
SOURCES: Final[dict[str, Source]] = {
    "douyin": {"zh": "抖音", "en": "Douyin"},
    "xiaohongshu": {"zh": "小红书", "en": "Xiaohongshu"},
    "wechat": {"zh": "微信", "en": "WeChat"},
    "mini_program": {"zh": "小程序", "en": "Mini program"},
    "poster": {"zh": "海报传单", "en": "Poster or flyer"},
    "partner": {"zh": "合作门店", "en": "Partner business"},
    "other": {"zh": "其他", "en": "Other"},
}
CAMPAIGN_ID: Final = r"^[a-z0-9][a-z0-9_-]{0,47}(?!\n)$"
VISITOR_ID: Final = r"^[A-Za-z0-9_-]{16,64}(?!\n)$"  # made by the landing page, random
MEMBER_ID: Final = r"^[A-Za-z0-9_-]{1,100}(?!\n)$"
DAY: Final[dict[str, Any]] = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?!\n)$"}
MAX_WINDOW_DAYS: Final = 90

CAMPAIGN: Final[dict[str, Any]] = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "source", "starts", "ends", "cost_cents", "window_days"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "source": {"type": "string", "enum": list(SOURCES)},
        "starts": DAY, "ends": DAY,
        "cost_cents": {"type": "integer", "minimum": 0, "maximum": 100_000_000_000},
        "window_days": {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_DAYS},
        # the days' time zone (default the chain's, Asia/Shanghai)
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        # where the landing page sends the guest after recording the visit
        "landing": {"type": "string", "pattern": r"^https://[^\s\"'<>\\]{1,500}(?!\n)$"},
    }}
VISIT: Final[dict[str, Any]] = {
    "type": "object", "additionalProperties": False, "required": ["campaign"],
    "anyOf": [{"required": ["visitor"]}, {"required": ["member"]}],
    "properties": {
        "campaign": {"type": "string", "pattern": CAMPAIGN_ID},
        "visitor": {"type": "string", "pattern": VISITOR_ID},
        "member": {"type": "string", "pattern": MEMBER_ID},
    }}
