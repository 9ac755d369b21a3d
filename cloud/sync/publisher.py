"""``FeedPublisher``: sends a store's HQ change feed on ``storenode/v1/{t}/{s}/down``.

``replay`` answers a birth (the edge's cursor → the changes after it, or a snapshot);
``push`` sends what HQ just appended. Messages are built per docs/sync-protocol.md, in
pages of at most ``page_size`` changes.

A snapshot lists the current state (``catalog.item`` then ``inventory.quotas``, applied as
upserts) and then the deltas (``stock.adjust``, ``ledger.entry``, ...) after the edge's
cursor, which its pages state as ``from_cursor`` (an edge behind it missed deltas: it asks
again). The edge applies a delta only when its cursor is above the edge's applied cursor,
and that cursor never moves back (but for a ``reset``), so a snapshot that comes twice, or
answers a birth whose cursor was stale, applies nothing twice. When a snapshot needs several
pages, every page but the last carries as ``cursor`` the edge's cursor, or the last delta
sent so far, if higher: an edge that stops half-way asks again from there. The last page
carries the feed's cursor, and ``reset: true`` when the edge's cursor was ahead of the feed
(HQ restored from a backup): the one case where the edge takes a lower cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from cloud.db.thread import DbThread
from cloud.errors import UnknownStore
from cloud.feed.changes import STATE_KINDS
from cloud.feed.results import Feed
from sync import messages, topics

if TYPE_CHECKING:
    from cloud.database import CloudDb

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[int]]
PAGE_SIZE: Final = 200


def down_messages(feed: Feed, edge_cursor: int, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """The ``down`` payloads (without ``v``) that carry ``feed`` to an edge at ``edge_cursor``."""
    changes = feed.changes
    pages = [changes[i:i + page_size] for i in range(0, len(changes), page_size)] or [[]]
    out: list[dict[str, Any]] = []
    if feed.snapshot:
        done, base = edge_cursor, 0 if feed.reset else edge_cursor
        for n, page in enumerate(pages, 1):
            deltas = [c["cursor"] for c in page if c["type"] not in STATE_KINDS]
            done = max([done, *deltas])
            last = n == len(pages)
            out.append({"from_cursor": base, "cursor": feed.cursor if last else done,
                        "snapshot": True, **({"reset": True} if last and feed.reset else {}),
                        "changes": page})
        return out
    if not changes:
        return []
    start = feed.from_cursor
    for page in pages:
        out.append({"from_cursor": start, "cursor": page[-1]["cursor"], "snapshot": False,
                    "changes": page})
        start = page[-1]["cursor"]
    return out


class FeedPublisher:
    def __init__(self, db: CloudDb, publish: Publish, *, page_size: int = PAGE_SIZE) -> None:
        self.db, self.publish, self.page_size = db, publish, page_size
        self._thread = DbThread("cloud-feed")
        self.counters: dict[str, int] = {"messages": 0, "changes": 0, "snapshots": 0,
                                         "publish_failed": 0, "unknown_store": 0, "db_errors": 0}

    async def close(self) -> None:
        await self._thread.close()

    async def replay(self, tenant: str, store: str, cursor: int) -> int:
        """Publish everything after ``cursor`` (or a snapshot); how many messages were sent."""
        try:
            feed = await self._thread.call(self.db.changes_since, store, cursor)
        except UnknownStore:
            self.counters["unknown_store"] += 1
            return 0
        except Exception:  # database unreachable: the edge asks again with its next birth
            log.exception("reading the feed of %s failed", store)
            self.counters["db_errors"] += 1
            return 0
        if feed.snapshot:
            self.counters["snapshots"] += 1
        return await self._send(tenant, store, down_messages(feed, cursor, self.page_size),
                                feed.epoch)

    async def push(self, stores: dict[str, int]) -> int:
        """Send each store the changes from its new cursor on (``put_catalog_item``'s answer).

        Offline stores are skipped: their next birth replays the feed.
        """
        try:
            plans = await self._thread.call(self._plan_push, stores)
        except Exception:  # database unreachable: the stores get it by replay at their birth
            log.exception("reading the feeds of %s failed", sorted(stores)[:10])
            self.counters["db_errors"] += 1
            return 0
        sent = await asyncio.gather(*(self._send(t, s, m, e) for t, s, m, e in plans))
        return sum(sent)

    def _plan_push(self, stores: dict[str, int]
                   ) -> list[tuple[str, str, list[dict[str, Any]], int]]:
        plans = []
        for store, cursor in sorted(stores.items()):
            info = self.db.get_store(store)
            if info is None or not info["online"]:
                continue
            feed = self.db.changes_since(store, cursor - 1)
            plans.append((info["tenant"], store, down_messages(feed, cursor - 1, self.page_size),
                          feed.epoch))
        return plans

    async def _send(self, tenant: str, store: str, pages: list[dict[str, Any]],
                    epoch: int = 1) -> int:
        """Publish ``pages``, each stating the store's current box (``epoch``)."""
        topic = topics.topic(tenant, store, "down")
        for n, page in enumerate(pages):
            try:
                code = await self.publish(topic, messages.encode({**page, "epoch": epoch}))
            except ConnectionError as exc:  # the next birth replays from the edge's cursor
                log.warning("down feed to %s not sent: %s", store, exc)
                self.counters["publish_failed"] += 1
                return n
            if code >= 0x80:
                log.warning("down feed to %s refused by the broker: 0x%02x", store, code)
                self.counters["publish_failed"] += 1
                return n
            self.counters["messages"] += 1
            self.counters["changes"] += len(page["changes"])
        return len(pages)
