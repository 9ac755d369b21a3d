"""MQTT topics of the sync protocol, declared as data (ARCHITECTURE §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "storenode/v1"
# kind -> (direction, retained)
KINDS: Final[dict[str, tuple[str, bool]]] = {
    "up": ("edge->cloud", False),
    "ack": ("cloud->edge", False),
    "down": ("cloud->edge", False),
    "state": ("edge->cloud", True),
    # a replacement box asks for its restore snapshot, HQ answers in chunks (§4e)
    "restore": ("edge->cloud", False),
    "snapshot": ("cloud->edge", False),
}
SHARE_GROUP: Final = "cloud"
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Topic:
    tenant: str
    store: str
    kind: str

    def __str__(self) -> str:
        return f"{PREFIX}/{self.tenant}/{self.store}/{self.kind}"


def topic(tenant: str, store: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}")
    for part in (tenant, store):
        if not _SEGMENT.match(part):
            raise ValueError(f"invalid topic segment {part!r}")
    return str(Topic(tenant, store, kind))


def parse(name: str) -> Topic | None:
    """The parts of a protocol topic, or None for anything else."""
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX or parts[4] not in KINDS:
        return None
    if not (_SEGMENT.match(parts[2]) and _SEGMENT.match(parts[3])):
        return None
    return Topic(parts[2], parts[3], parts[4])


def cloud_subscriptions(shared: bool = True) -> list[str]:
    """What the cloud subscribes to: ``up`` shared among workers, ``state`` by every worker,
    ``restore`` shared among the HQ processes (one answers each request)."""
    up, restore = f"{PREFIX}/+/+/up", f"{PREFIX}/+/+/restore"
    return [f"$share/{SHARE_GROUP}/{up}" if shared else up, f"{PREFIX}/+/+/state",
            f"$share/{SHARE_GROUP}/{restore}" if shared else restore]
