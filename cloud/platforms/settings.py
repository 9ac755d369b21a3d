"""Delivery-platform settings: the ``[platforms]`` section of ``cloud.toml`` (every key also
``STORENODE_CLOUD_PLATFORMS_<KEY>``), parsed into :class:`PlatformSettings`.

Per platform (``meituan``, ``eleme``, ``generic``): ``<p>_secret`` (empty: the platform is
off and its webhook answers 404), ``<p>_app_id`` (the app id/key the platform sends and we
send back; not for ``generic``), ``<p>_shops`` (``"SHOP=STORE,SHOP2=STORE2"``: the platform's
shop ids and the store each one is), ``<p>_callback_url`` (where status callbacks go; empty:
none are sent) and ``<p>_commission_bp`` (the platform's commission in basis points, for the
channel report). ``generic_channel`` is the edge channel generic orders are placed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from common.vocabulary import PLATFORM_CHANNELS

PLATFORMS: Final = ("meituan", "eleme", "generic")
_SHOP: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_STORE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def config_schema() -> dict[str, dict[str, tuple[type, Any]]]:
    keys: dict[str, tuple[type, Any]] = {
        "max_skew_s": (int, 300), "max_body_bytes": (int, 65536),
        "callback_poll_ms": (int, 1000), "callback_backoff_ms": (int, 2000),
        "callback_max_attempts": (int, 8), "callback_timeout_s": (int, 10),
    }
    for name in PLATFORMS:
        keys[f"{name}_secret"] = (str, "")
        if name != "generic":
            keys[f"{name}_app_id"] = (str, "")
        keys[f"{name}_shops"] = (str, "")
        keys[f"{name}_callback_url"] = (str, "")
        keys[f"{name}_commission_bp"] = (int, {"meituan": 1800, "eleme": 1500}.get(name, 1000))
    keys["generic_channel"] = (str, "meituan")
    return {"platforms": keys}


RANGES: Final[dict[str, tuple[int, int]]] = {
    "platforms.max_skew_s": (10, 3600), "platforms.max_body_bytes": (1024, 1 << 20),
    "platforms.callback_poll_ms": (10, 600_000), "platforms.callback_backoff_ms": (10, 3_600_000),
    "platforms.callback_max_attempts": (1, 100), "platforms.callback_timeout_s": (1, 120),
    **{f"platforms.{p}_commission_bp": (0, 10_000) for p in PLATFORMS},
}


@dataclass(frozen=True)
class Platform:
    name: str
    secret: str
    app_id: str
    shops: dict[str, str]          # platform shop id -> store
    callback_url: str
    commission_bp: int
    channel: str


@dataclass(frozen=True)
class PlatformSettings:
    platforms: dict[str, Platform] = field(default_factory=dict)
    max_skew_s: int = 300
    max_body_bytes: int = 65536
    callback_poll_s: float = 1.0
    callback_backoff_s: float = 2.0
    callback_max_attempts: int = 8
    callback_timeout_s: int = 10

    def enabled(self, name: str) -> Platform | None:
        found = self.platforms.get(name)
        return found if found is not None and found.secret else None

    def commission_bp(self) -> dict[str, int]:
        """Edge channel -> commission (basis points) of the platform selling on it."""
        return {p.channel: p.commission_bp for p in self.platforms.values()
                if p.name != "generic" or p.secret}


def parse_shops(text: str) -> dict[str, str]:
    """``"SHOP=STORE,SHOP2=STORE2"`` -> {shop: store}; ValueError naming the bad entry."""
    shops: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        shop, sep, store = (p.strip() for p in entry.partition("="))
        if not sep or not _SHOP.match(shop) or not _STORE.match(store):
            raise ValueError(f"{entry!r} is not SHOP=STORE")
        if shop in shops:
            raise ValueError(f"shop {shop!r} listed twice")
        shops[shop] = store
    return shops


def check(values: dict[str, Any]) -> list[str]:
    """Problems with the ``platforms.*`` values: ``"key: message"`` each."""
    problems = []
    for key, (low, high) in RANGES.items():
        if not low <= values[key] <= high:
            problems.append(f"{key} must be between {low} and {high}")
    for name in PLATFORMS:
        try:
            parse_shops(values[f"platforms.{name}_shops"])
        except ValueError as exc:
            problems.append(f"platforms.{name}_shops: {exc}")
        url = values[f"platforms.{name}_callback_url"]
        if url and not url.startswith(("http://", "https://")):
            problems.append(f"platforms.{name}_callback_url must be an http(s) URL")
    if values["platforms.generic_channel"] not in PLATFORM_CHANNELS:
        problems.append(f"platforms.generic_channel must be one of {list(PLATFORM_CHANNELS)}")
    return problems


def from_config(values: dict[str, Any]) -> PlatformSettings:
    def get(key: str) -> Any:
        return values[f"platforms.{key}"]

    platforms = {name: Platform(
        name=name, secret=get(f"{name}_secret"), app_id=values.get(f"platforms.{name}_app_id", ""),
        shops=parse_shops(get(f"{name}_shops")), callback_url=get(f"{name}_callback_url"),
        commission_bp=get(f"{name}_commission_bp"),
        channel=get("generic_channel") if name == "generic" else name) for name in PLATFORMS}
    return PlatformSettings(
        platforms=platforms, max_skew_s=get("max_skew_s"), max_body_bytes=get("max_body_bytes"),
        callback_poll_s=get("callback_poll_ms") / 1000,
        callback_backoff_s=get("callback_backoff_ms") / 1000,
        callback_max_attempts=get("callback_max_attempts"),
        callback_timeout_s=get("callback_timeout_s"))
