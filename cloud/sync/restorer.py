"""HQ's end of restoring a replacement box (ARCHITECTURE §4e): a request on the store's
``restore`` topic is answered with the store's restore snapshot (cloud/stores/restore.py),
chunk after chunk on its ``snapshot`` topic, each published at QoS 1 before the next.

Only the store's current box is answered (the request's epoch must be the store's). A
snapshot is kept for ``KEEP_S`` after it was built, so an interrupted restore asks for the
rest of the same one (``snapshot`` and ``from_chunk``); once it is gone, or after HQ
restarted, the box is told ``snapshot_gone`` and starts again from a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from cloud.errors import UnknownStore
from sync import messages, topics

if TYPE_CHECKING:
    from cloud.database import CloudDb

log = logging.getLogger(__name__)
KEEP_S: Final = 1800.0
Publish = Callable[..., Awaitable[int]]


class Restorer:
    def __init__(self, db: CloudDb, publish: Publish) -> None:
        self.db, self.publish = db, publish
        self.counters = {"requests": 0, "refused": 0, "chunks_sent": 0, "invalid": 0}
        self._snapshots: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()  # one snapshot built at a time

    def dispatch(self, topic: str, payload: bytes) -> None:
        parsed = topics.parse(topic)
        if parsed is None or parsed.kind != "restore":
            return
        task = asyncio.get_running_loop().create_task(self.handle(parsed.store, payload),
                                                      name="cloud-restore")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, store: str, payload: bytes) -> None:
        try:
            request = messages.parse_restore_request(payload)
        except messages.MessageError as exc:
            self.counters["invalid"] += 1
            log.warning("invalid restore request for %s dropped: %s", store, exc)
            return
        self.counters["requests"] += 1
        try:
            found = await asyncio.to_thread(self.db.get_store, store)
        except Exception:
            log.exception("restore request of %s: could not read the store", store)
            return
        if found is None:
            self.counters["invalid"] += 1
            return
        reply = topics.topic(found["tenant"], store, "snapshot")
        if request["epoch"] != int(found["epoch"]):
            await self._refuse(reply, request, f"epoch {request['epoch']} is not the store's "
                                               f"current box ({found['epoch']}): ask HQ for a "
                                               "replacement (storenode-cloud store replace)")
            return
        snapshot = await self._snapshot(store, request)
        if snapshot is None:
            await self._refuse(reply, request, "snapshot_gone")
            return
        chunks = snapshot["chunks"]
        for n in range(request["from_chunk"], len(chunks)):
            body = {"request": request["request"], "snapshot": snapshot["id"], "chunk": n,
                    "chunks": len(chunks), **chunks[n]}
            try:
                await self.publish(reply, messages.encode(body))
            except ConnectionError as exc:  # the box asks again from where it got to
                log.warning("restore of %s cut at chunk %d: %s", store, n, exc)
                return
            self.counters["chunks_sent"] += 1

    async def _snapshot(self, store: str, request: dict[str, Any]) -> dict[str, Any] | None:
        key, now = (store, request["epoch"]), time.monotonic()
        async with self._lock:
            self._snapshots = {k: v for k, v in self._snapshots.items() if now - v[0] < KEEP_S}
            kept = self._snapshots.get(key)
            wanted = request.get("snapshot")
            if wanted is not None:
                return kept[1] if kept is not None and kept[1]["id"] == wanted else None
            try:
                built = await asyncio.to_thread(self.db.restore_snapshot, store)
            except UnknownStore:
                return None
            self._snapshots[key] = (now, built)
            return built

    async def _refuse(self, reply: str, request: dict[str, Any], error: str) -> None:
        self.counters["refused"] += 1
        try:
            await self.publish(reply, messages.encode({"request": request["request"],
                                                       "error": error}))
        except ConnectionError:
            pass

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
