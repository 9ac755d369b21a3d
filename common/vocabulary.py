"""The shared vocabulary, declared once as data: sales channels, member identity kinds and
profile fields, order limits. Both services read it, and the pages get it from
``/static/vocabulary.js`` (``common/pages``) instead of a copy in JavaScript."""

from __future__ import annotations

from typing import Final

# channel -> is it a delivery platform (orders arrive through HQ, may be quota-capped)
CHANNELS: Final[dict[str, dict[str, bool]]] = {
    "pos": {"platform": False},
    "dine_in_qr": {"platform": False},
    "waiter": {"platform": False},
    "mini_program": {"platform": False},
    "meituan": {"platform": True},
    "eleme": {"platform": True},
    "phone": {"platform": False},
}
PLATFORM_CHANNELS: Final[tuple[str, ...]] = tuple(c for c, v in CHANNELS.items() if v["platform"])

# a member's identities (stored as keyed hashes, never raw) and profile fields (LWW by HLC)
ID_KINDS: Final[tuple[str, ...]] = ("phone", "wechat_unionid", "alipay_uid", "meituan_uid",
                                    "eleme_uid", "code")
PROFILE_FIELDS: Final[tuple[str, ...]] = ("name", "birthday")

MAX_LINES: Final = 100  # lines in one order
MAX_QTY: Final = 999    # units on one line


def as_json() -> dict[str, object]:
    """What the pages need, JSON-ready."""
    return {"channels": {name: dict(flags) for name, flags in CHANNELS.items()},
            "platform_channels": list(PLATFORM_CHANNELS), "id_kinds": list(ID_KINDS),
            "profile_fields": list(PROFILE_FIELDS), "max_lines": MAX_LINES, "max_qty": MAX_QTY}
