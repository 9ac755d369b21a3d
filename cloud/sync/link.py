"""Process wiring of the HQ service: the database runner of the API, the MQTT link that feeds
``Ingest`` and ``FeedPublisher``, and the ingest-only worker process.

``CloudLink`` is one broker connection. In the HQ process it subscribes to every store's
``up`` through the shared subscription ``$share/cloud/…`` (one copy per batch among all
workers) and to the retained ``state`` topics (every HQ process sees every birth); an accepted
birth replays the store's down feed from the cursor it states. An ingest-only worker
(``storenode-cloud ingest``) subscribes to the shared ``up`` alone.

On every (re)connect the HQ process asks every store to resend what HQ has not applied and to
publish its birth again (``messages.reconnect_ack``), and marks offline every store that has
not confirmed its presence within 1.5 x its keepalive: a retained birth may be all that is
left of a store that died while the broker was down (docs/sync-protocol.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from prometheus_client.registry import Collector

from cloud.config import Settings
from cloud.db.backend import utc_now_iso
from cloud.sync.ingest import Ingest
from cloud.sync.publisher import FeedPublisher
from cloud.sync.restorer import Restorer
from sync import messages, topics
from sync.mqtt import MqttClient

if TYPE_CHECKING:
    from cloud.database import CloudDb

log = logging.getLogger(__name__)


def client_id(role: str) -> str:
    """Unique per process: members of a shared subscription need distinct client ids."""
    return f"cloud-{role}-{socket.gethostname()[:24]}-{os.getpid()}"


class CloudLink:
    """One broker connection wired to ``Ingest`` (and, in the HQ process, ``FeedPublisher``)."""

    def __init__(self, settings: Settings, db: CloudDb, *, ingest_only: bool = False) -> None:
        self.client = MqttClient(
            settings.broker, client_id("ingest" if ingest_only else "hq"),
            username=settings.broker_username, password=settings.broker_password or None,
            keepalive=settings.keepalive, ca_file=settings.ca_file, manual_ack=True)
        self._db, self.ingest_only = db, ingest_only
        self.feed = FeedPublisher(db, self.client.publish)  # ingest-only: pushes, no replays
        # acks are QoS 0: each one supersedes the last, a lost one is repaired by the edge's
        # resend (duplicates are dropped), and QoS 1 acks stalled catch-up (docs/sync-protocol.md)
        self.ingest = Ingest(db, functools.partial(self.client.publish, qos=0), feed=self.feed,
                             group_bytes=settings.ingest_group_bytes)
        self.restorer = Restorer(db, self.client.publish)  # replacement boxes (HQ only)
        every = topics.cloud_subscriptions()
        self.subscriptions = every[:1] if ingest_only else every
        self.refused: list[str] = []
        self.client.on_connect = self._subscribe
        self.client.on_message = self._dispatch
        self.client.on_retained = functools.partial(self.ingest.dispatch, retained=True)
        self._presence: asyncio.Task[None] | None = None  # this session's presence check

    @property
    def connected(self) -> bool:
        return self.client.connected.is_set()

    def _dispatch(self, topic: str, payload: bytes) -> object:
        """Route a message; what it started, so the client acks the message when it is done
        (``manual_ack``: the broker holds the rest while HQ is busy)."""
        if topic.endswith("/restore"):
            self.restorer.dispatch(topic, payload)  # answered at once: a rare, small message
            return None
        return self.ingest.dispatch(topic, payload)

    def start(self) -> None:
        self.client.start()

    async def _subscribe(self) -> None:  # on every (re)connect: the session starts clean
        since, session = utc_now_iso(), self.client.connects  # before any birth can arrive
        try:
            codes = await self.client.subscribe(self.subscriptions)
        except ConnectionError as exc:
            log.warning("subscribing failed, retried on the next connect: %s", exc)
            return
        self.refused = [t for t, code in zip(self.subscriptions, codes, strict=False)
                        if code >= 0x80]
        if self.refused:
            log.error("broker refused the subscriptions %s (check the cloud user's ACL)",
                      self.refused)
        elif not self.ingest_only:
            await self._recheck_presence(since, session)

    async def _recheck_presence(self, since: str, session: int) -> None:
        """Ask every store to resend after what HQ has applied (batches published while no
        HQ was subscribed were dropped by the broker) and to publish its birth again; then,
        in the background, mark offline the stores that do not confirm in time."""
        try:
            stores = await asyncio.to_thread(self._db.presence)
        except Exception:
            log.exception("could not list stores to ask for resends and rebirths")
            return
        for row in stores:
            ack = messages.encode(messages.reconnect_ack(int(row["applied_seq"]),
                                                         int(row["epoch"])))
            sent = self.client.publish_nowait(topics.topic(row["tenant"], row["store"], "ack"),
                                              ack, qos=0)
            sent.add_done_callback(lambda f: f.cancelled() or f.exception())
        if self._presence is not None:
            self._presence.cancel()  # a previous session's: this one re-checks everything
        # only stores whose edge answers rebirth requests (their birth states a keepalive)
        due = [row for row in stores if row["online"] and row["keepalive_s"]]
        self._presence = asyncio.get_running_loop().create_task(
            self._expire_unconfirmed(due, since, session), name="cloud-presence")

    async def _expire_unconfirmed(self, stores: list[dict[str, Any]], since: str,
                                  session: int) -> None:
        """At 1.5 x each store's keepalive after the rebirth request, mark it offline (as its
        death would: platform channels paused) unless a birth was recorded since ``since``."""
        start = asyncio.get_running_loop().time()
        for row in sorted(stores, key=lambda r: int(r["keepalive_s"])):
            deadline = start + 1.5 * int(row["keepalive_s"])
            await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
            if self.client.connects != session or not self.connected:
                return  # HQ could not hear the answers: the next session checks again
            try:
                lapsed = await self.ingest.on_db_thread(
                    self._db.lapse, row["tenant"], row["store"], int(row["bd_seq"]), since)
            except Exception:
                log.exception("could not mark %s offline", row["store"])
                continue
            if lapsed:
                log.warning("store %s did not confirm its presence within %.1f s of HQ's "
                            "connection to the broker: marked offline, platform channels "
                            "paused", row["store"], 1.5 * int(row["keepalive_s"]))

    async def push(self, cursors: dict[str, int]) -> int:
        """Publish new HQ changes to the online stores; messages sent (0: none or offline).

        The changes are committed already: a store that misses them gets them by replay at
        its next birth, so a failure here is logged, not raised.
        """
        if self.feed is None or not cursors:
            return 0
        try:
            return await self.feed.push(cursors)
        except Exception:
            log.exception("pushing the change feed failed; stores get it at their next birth")
            return 0

    async def close(self) -> None:
        """Stop taking messages, let the ones in hand finish (and ack), then disconnect."""
        self.client.on_message = self.client.on_retained = None
        if self._presence is not None:
            self._presence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._presence
        await self.ingest.close()
        await self.restorer.close()
        await self.client.close()
        if self.feed is not None:
            await self.feed.close()


def counters(link: CloudLink | None) -> dict[str, dict[str, int]]:
    if link is None:
        return {}
    found = {"ingest": link.ingest.counters}
    if link.feed is not None:
        found["feed"] = link.feed.counters
    return found


def histograms(link: CloudLink | None) -> list[Collector]:
    """The link's histograms, for the HQ app's /metrics."""
    return [] if link is None else [link.ingest.ack_seconds]
