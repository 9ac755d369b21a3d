"""Field captures as JSON lines, and a probe that replays one.

One advert a line::

    {"t": 12.25, "address": "3f9a1c0e5b7d2a46", "rssi": -61, "name": null,
     "company_ids": [76], "service_uuids": ["0000fd6f-0000-1000-8000-00805f9b34fb"]}

``t`` is seconds since the capture started. ``address`` in a capture is already a salted
hash (``capture_line`` writes it so), never the radio address, so a capture file holds
nothing that identifies a phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from drivers.ble.base import AdapterMissing, Advert, AdvertCallback, signature


def capture_line(advert: Advert, started: float, salt: bytes, name: str | None,
                 company_ids: list[int], service_uuids: list[str]) -> str:
    pseudo = hashlib.sha256(salt + advert.address.encode()).hexdigest()[:16]
    return json.dumps({"t": round(advert.at - started, 3), "address": pseudo,
                       "rssi": advert.rssi, "name": name, "company_ids": sorted(company_ids),
                       "service_uuids": sorted(service_uuids)}, separators=(",", ":"))


def read_capture(path: Path, origin: float) -> Iterator[Advert]:
    """The adverts of a capture, ``t`` counted from ``origin``. A bad line raises
    ValueError naming its line number."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row: dict[str, Any] = json.loads(line)
                yield Advert(address=str(row["address"]), rssi=int(row["rssi"]),
                             signature=signature(row.get("name"), list(row.get("company_ids", [])),
                                                 list(row.get("service_uuids", []))),
                             at=origin + float(row["t"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a capture line: {exc}") from exc


class ReplayProbe:
    """Replays a capture: in real time (``speed`` 1), faster, or at once (``speed`` 0);
    the adverts carry the capture's timeline from when the replay started."""

    def __init__(self, path: Path, speed: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path, self.speed, self._clock = path, speed, clock
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self.replayed = 0

    async def start(self, callback: AdvertCallback) -> None:
        if not self.path.is_file():
            raise AdapterMissing(f"replay file {self.path} not found")
        self._task = asyncio.create_task(self._replay(callback), name=f"ble-replay {self.path}")

    async def _replay(self, callback: AdvertCallback) -> None:
        origin = self._clock()
        try:
            for advert in read_capture(self.path, origin):
                if self.speed > 0:
                    await asyncio.sleep(max(0.0, (advert.at - origin) / self.speed
                                            - (self._clock() - origin)))
                callback(advert)
                self.replayed += 1
        finally:
            self.done.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
