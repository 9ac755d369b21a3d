"""The edge end of the sync layer: outbox up, acks, birth/death, the HQ change feed down.

One coordinator (:class:`EdgeSync`) owns the MQTT client. Without a configured
broker the store runs offline and events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from common.clock import iso, utc_now
from sync import messages, topics
from sync.changes import check_change
from sync.mqtt import MqttClient, Will
from sync.publisher import Batch, OutboxPublisher, OutboxSource

from edge import __version__, keys
from edge.config import CONFIG_FILE
from edge.syncer import box, prior
from edge.syncer import sql as syncdb
from edge.syncer.box import Box
from edge.db.database import Database

if TYPE_CHECKING:
    from edge.config import Settings

log = logging.getLogger(__name__)

PRUNE_EVERY_S: Final = 60.0
BIRTH_MIN_GAP_S: Final = 1.0


class EdgeSync:
    def __init__(self, settings: Settings, db: Database, box: Box | None = None) -> None:
        self.settings, self.db = settings, db
        self.box = box or Box()
        t, s = settings.tenant, settings.store_id
        self.topic = {kind: topics.topic(t, s, kind) for kind in topics.KINDS}
        # each box has its broker identity: edge-<store> for the first, edge-<store>@e<N> after
        client_id = f"edge-{s}" if self.box.epoch == 1 else f"edge-{s}@e{self.box.epoch}"
        self.client = MqttClient(
            settings.broker, client_id, username=settings.broker_username or None,
            password=settings.broker_password or None, keepalive=settings.keepalive_s,
            ca_file=settings.ca_file or None,
        )
        self.client.before_connect = self._before_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.publisher = self._publisher(self, db.acked_seq)
        self.bd_seq = 0
        self.down_cursor = 0
        self.prior: prior.Prior | None = None  # restored from a backup: the old epoch's events
        self.prior_publisher: OutboxPublisher | None = None
        self.counters = {"down_messages": 0, "down_invalid": 0, "down_gaps": 0,
                         "changes_applied": 0, "changes_rejected": 0}
        self._down: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._rebirths: set[asyncio.Task[None]] = set()  # answers to HQ's rebirth requests
        self._last_birth = 0.0

    def _publisher(self, source: OutboxSource, acked_seq: int) -> OutboxPublisher:
        """A publisher of ``source`` on this link, by the [sync] settings (this box's outbox,
        or the events of the box it replaced)."""
        settings = self.settings
        return OutboxPublisher(
            source, self.client.publish_detached, self.topic["up"], acked_seq,
            batch_max=settings.batch_max, window=settings.window,
            ack_timeout_s=max(10.0, 2.0 * settings.keepalive_s),
            linger_s=settings.linger_ms / 1000)

    # -- OutboxSource -------------------------------------------------------------
    def last_seq(self) -> int:
        return self.db.writer.outbox.last_seq

    async def batch_after(self, seq: int, limit: int, max_bytes: int) -> Batch | None:
        return await self.db.read(syncdb.outbox_batch, self.settings.store_id, seq, limit,
                                  max_bytes, self.box.epoch)

    async def record_ack(self, seq: int) -> None:
        stored = await self.db.write(syncdb.record_ack, seq)
        self.db.acked_seq = max(self.db.acked_seq, stored)

    # -- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        state = await self.db.read(syncdb.sync_state)
        self.down_cursor = state["down_cursor"]
        self.prior = await self.db.read(prior.read)
        if self.prior is not None and self.prior.acked_seq < self.prior.last_seq:
            # the backup's events of the old epoch, sent up as that box's (prior.py)
            self.prior_publisher = self._publisher(
                prior.PriorSource(self.db, self.settings.store_id, self.prior),
                self.prior.acked_seq)
        self.client.start()
        self._tasks = [asyncio.create_task(self.publisher.run(), name="sync-publisher"),
                       asyncio.create_task(self._consume_down(), name="sync-down"),
                       asyncio.create_task(self._prune_loop(), name="sync-prune")]
        if self.prior_publisher is not None:
            self._tasks.append(asyncio.create_task(self.prior_publisher.run(),
                                                   name="sync-prior-publisher"))

    async def stop(self) -> None:
        if self.client.connected.is_set():  # a clean goodbye: the broker drops the Will
            death = messages.encode(messages.death(self.bd_seq, self.box.epoch))
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(2):
                    await self.client.publish(self.topic["state"], death, retain=True)
        tasks = [*self._tasks, *self._rebirths]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.publisher.close()
        if self.prior_publisher is not None:
            await self.prior_publisher.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.publisher.flush_acks()
        await self.client.close()

    @property
    def connected(self) -> bool:
        return self.client.connected.is_set()

    # -- MQTT hooks ---------------------------------------------------------------
    async def _before_connect(self) -> Will:
        self.bd_seq = await self.db.write(syncdb.next_bd_seq)
        return Will(self.topic["state"],
                    messages.encode(messages.death(self.bd_seq, self.box.epoch)))

    async def _on_connect(self) -> None:
        try:
            codes = await self.client.subscribe([self.topic["ack"], self.topic["down"]])
            if any(code >= 0x80 for code in codes):
                log.error("broker refused our ack/down subscriptions: %s", codes)
            await self._publish_birth()
        except ConnectionError as exc:
            log.warning("session set-up failed: %s", exc)
            return
        self.publisher.on_connected()
        if self.prior_publisher is not None:
            self.prior_publisher.on_connected()

    def _on_disconnect(self) -> None:
        self.publisher.on_disconnected()
        if self.prior_publisher is not None:
            self.prior_publisher.on_disconnected()

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == self.topic["ack"]:
            self._on_ack(payload)
        elif topic == self.topic["down"] and self.box.superseded_at is None:
            self._down.put_nowait(payload)

    def _on_ack(self, payload: bytes) -> None:
        """Acks on the store's topic are for its current box or for a superseded one: act
        on ours; an ack of a later epoch, or one that says so, means this box was replaced."""
        try:
            ack = messages.parse_ack(payload)
        except messages.MessageError as exc:
            self.publisher.counters["invalid_acks"] += 1
            log.warning("invalid ack dropped: %s", exc)
            return
        epoch = ack.get("epoch", self.box.epoch)  # none: an HQ from before epochs
        if epoch > self.box.epoch or (epoch == self.box.epoch and ack.get("superseded")):
            self._superseded()
        if epoch != self.box.epoch:
            if self.prior_publisher is not None and self.prior is not None \
                    and epoch == self.prior.epoch:  # for the events of our backup
                # HQ may have had more of that box than the backup holds (sent before it
                # died): everything we hold is applied then
                if "applied_seq" in ack:
                    ack = {**ack, "applied_seq": min(ack["applied_seq"], self.prior.last_seq)}
                self.prior_publisher.handle_ack(ack)
            return  # another box's
        self.publisher.handle_ack(ack)
        if ack.get("rebirth"):
            self._answer_rebirth()

    def _superseded(self) -> None:
        if self.box.superseded_at is not None:
            return
        self.box.superseded_at = iso(utc_now())  # at once: no sale in between
        log.error("HQ says this box (epoch %d) was replaced by a new one: it refuses new "
                  "orders, drains its outbox and applies no more changes from HQ",
                  self.box.epoch)
        task = asyncio.get_running_loop().create_task(self._record_superseded(),
                                                      name="sync-superseded")
        self._rebirths.add(task)
        task.add_done_callback(self._rebirths.discard)

    async def _record_superseded(self) -> None:
        try:
            self.box.superseded_at = await self.db.write(box.mark_superseded)
        except Exception:  # kept in memory; recorded at the next ack that says so
            log.exception("could not record that this box was superseded")

    def _answer_rebirth(self) -> None:
        """HQ (re)connected and asks every store to confirm its presence: publish the birth
        again (same bd_seq, current cursor) at once; HQ marks a store that does not answer
        within 1.5 x its keepalive offline. Never rate-limited: a skipped answer would do so."""
        task = asyncio.get_running_loop().create_task(self._rebirth(), name="sync-rebirth")
        self._rebirths.add(task)
        task.add_done_callback(self._rebirths.discard)

    async def _rebirth(self) -> None:
        with contextlib.suppress(ConnectionError):  # the next session's birth says it all
            await self._publish_birth()

    async def _publish_birth(self) -> None:
        self._last_birth = time.monotonic()
        birth = messages.birth(self.bd_seq, self.down_cursor, __version__, self.last_seq(),
                               keepalive=self.settings.keepalive_s, epoch=self.box.epoch)
        birth.update(prior.birth_field(self.prior))
        await self.client.publish(self.topic["state"], messages.encode(birth), retain=True)

    def commit_listener(self) -> None:
        self.publisher.notify()

    # -- downstream -----------------------------------------------------------------
    async def _consume_down(self) -> None:
        while True:
            payload = await self._down.get()
            self.counters["down_messages"] += 1
            try:
                message = messages.parse_down(payload)
            except messages.MessageError as exc:
                self.counters["down_invalid"] += 1
                log.warning("invalid down message dropped: %s", exc)
                continue
            epoch = message.get("epoch", self.box.epoch)
            if epoch > self.box.epoch:  # the feed of the box that replaced this one
                self._superseded()
            if epoch != self.box.epoch or self.box.superseded_at is not None:
                continue  # not ours: never applied (a platform order would be placed twice)
            # a snapshot's from_cursor is the cursor its deltas follow (0: a reset, or an
            # older HQ): behind it, deltas were missed, as they are in a gap of the feed
            if message["from_cursor"] > self.down_cursor:
                self.counters["down_gaps"] += 1
                await self._ask_replay()
                continue
            for change in message["changes"]:
                reason = check_change(change)
                if reason:
                    change["invalid"] = reason
            try:
                result = await self.db.write(syncdb.apply_down, message,
                                             self.settings.timezone, self.settings.tables)
            except Exception:  # storage trouble: HQ replays from our cursor on the next birth
                log.exception("could not apply down message up to cursor %s", message["cursor"])
                continue
            self.down_cursor = result["cursor"]
            self.counters["changes_applied"] += result["applied"]
            self.counters["changes_rejected"] += result["rejected"]

    async def _ask_replay(self) -> None:
        """A gap in the feed: re-publish the birth with our cursor; HQ replays from it."""
        wait = self._last_birth + BIRTH_MIN_GAP_S - time.monotonic()
        if wait > 0:  # at most one replay request a second
            await asyncio.sleep(wait)
            if self._down.qsize():  # newer messages may fill the gap already
                return
        if not self.connected:
            return  # the next session's birth asks for the replay anyway
        with contextlib.suppress(ConnectionError):
            await self._publish_birth()

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            cutoff = iso(utc_now() - timedelta(hours=self.settings.retain_hours))
            try:
                while await self.db.write(syncdb.prune_outbox, cutoff) > 0:
                    await asyncio.sleep(0)
            except Exception:
                log.exception("outbox pruning failed")


async def sync_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run the sync coordinator when a broker is configured."""
    settings = app[keys.SETTINGS]
    app[keys.BOX] = await app[keys.DB].read(box.read)
    try:  # HQ keeps it for a replacement box (storenode restore)
        text = (settings.data_dir / CONFIG_FILE).read_text(encoding="utf-8")
        await app[keys.DB].write(box.record_config, box.shareable_config(text))
    except OSError as exc:
        log.warning("could not read the configuration to send HQ: %s", exc)
    if not settings.broker:
        log.info("no broker configured: running offline, events queue in the outbox")
        yield
        return
    sync = EdgeSync(settings, app[keys.DB], app[keys.BOX])
    app[keys.SYNC] = sync
    app[keys.HUB].listeners.append(sync.commit_listener)
    await sync.start()
    try:
        yield
    finally:
        await sync.stop()
