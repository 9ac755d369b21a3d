"""The shared vocabulary, declared once as data: sales channels, member identity kinds and
profile fields, order limits. Both services read it, and the pages get it from
``/static/vocabulary.js`` (``common/pages``) instead of a copy in JavaScript."""

from __future__ import annotations

from typing import Final, TypedDict



class Channel(TypedDict):
    platform: bool  # a delivery platform: orders arrive through HQ, may be quota-capped
    zh: str         # its name on pages and tickets, in Chinese and in English
    en: str


# a new channel is one row here: the API, HQ's reports, the pages and the tickets read it
CHANNELS: Final[dict[str, Channel]] = {
    "pos": {"platform": False, "zh": "收银", "en": "POS"},
    "dine_in_qr": {"platform": False, "zh": "扫码点餐", "en": "QR dine-in"},
    "waiter": {"platform": False, "zh": "服务员", "en": "Waiter"},
    "mini_program": {"platform": False, "zh": "小程序", "en": "Mini program"},
    "meituan": {"platform": True, "zh": "美团", "en": "Meituan"},
    "eleme": {"platform": True, "zh": "饿了么", "en": "Ele.me"},
    "phone": {"platform": False, "zh": "电话", "en": "Phone"},
}
PLATFORM_CHANNELS: Final[tuple[str, ...]] = tuple(c for c, v in CHANNELS.items() if v["platform"])

# a member's identities (stored as keyed hashes, never raw) and profile fields (LWW by HLC)
ID_KINDS: Final[tuple[str, ...]] = ("phone", "wechat_unionid", "alipay_uid", "meituan_uid",
                                    "eleme_uid", "code")
PROFILE_FIELDS: Final[tuple[str, ...]] = ("name", "birthday")
# a till did not know an identity: the event asks HQ for the member that has it
MEMBER_SOUGHT: Final = "member.sought"

# a member's two balances and the kinds of ledger entry on each (docs/members.md)
ENTRY_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "points": ("earn", "redeem", "expire", "adjust"),
    "value": ("topup", "spend", "refund", "adjust"),
}
ACCOUNTS: Final[tuple[str, ...]] = tuple(ENTRY_KINDS)
COUPON_KINDS: Final[tuple[str, ...]] = ("amount_off", "percent_off", "free_item", "threshold")
COUPON_STATES: Final[tuple[str, ...]] = ("issued", "redeemed", "void")
# stock movements staff (or HQ) record; the system writes "sale", "cancel" and "refund" itself
MOVEMENT_REASONS: Final[tuple[str, ...]] = ("receipt", "waste", "stocktake", "transfer")
# a stock delta a superseded box's sales made, sent by HQ to the store's new box (HQ counted
# it already: HQ's projection leaves this movement out; ARCHITECTURE §4e). Never from staff.
OLD_BOX: Final = "old_box"

MAX_LINES: Final = 100  # lines in one order
MAX_QTY: Final = 999    # units on one line
# units one recorded stock movement (a receipt, waste, ...) or one stock.adjust from HQ moves
MAX_STOCK_MOVE: Final = 1_000_000


def as_json() -> dict[str, object]:
    """What the pages need, JSON-ready."""
    return {"channels": {name: dict(channel) for name, channel in CHANNELS.items()},
            "platform_channels": list(PLATFORM_CHANNELS), "id_kinds": list(ID_KINDS),
            "profile_fields": list(PROFILE_FIELDS), "max_lines": MAX_LINES, "max_qty": MAX_QTY}
