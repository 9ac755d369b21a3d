"""What a BLE probe delivers (advertisements) and how it fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class ProbeError(Exception):
    state = "error"


class AdapterMissing(ProbeError):
    """No adapter, no BlueZ / D-Bus, no permission, or bleak not installed."""

    state = "adapter_missing"


@dataclass(frozen=True)
class Advert:
    """One advertisement as the probe heard it. ``address`` is what the radio saw (often a
    random, rotating address); ``signature`` is the stable part of the payload (name,
    manufacturer company ids, service UUIDs) that the edge hashes together with it."""

    address: str
    rssi: int
    signature: bytes
    at: float  # seconds since the epoch (a replay's own timeline)


AdvertCallback = Callable[[Advert], None]


class Scanner(Protocol):
    """One radio listening in one zone."""

    async def start(self, callback: AdvertCallback) -> None:
        """Start delivering adverts to ``callback``; :class:`AdapterMissing` if it cannot."""

    async def stop(self) -> None: ...


def signature(name: str | None, company_ids: list[int], service_uuids: list[str]) -> bytes:
    """The canonical bytes of an advert's stable fields."""
    parts = [name or "", ",".join(str(c) for c in sorted(company_ids)),
             ",".join(sorted(u.lower() for u in service_uuids))]
    return "|".join(parts).encode("utf-8")
