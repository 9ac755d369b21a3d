"""The edge's outbox publisher: batches, a bounded window, app-level acks, resend.

Durability lives in the outbox, not in MQTT (ARCHITECTURE §3). The publisher
only ever sends what is committed, rewinds to the last acknowledged ``seq`` on
every (re)connect, and on ``resend_from`` or an ack timeout; the cloud drops
duplicates. The caller prunes the outbox only after :meth:`record_ack` said so.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sync import messages

log = logging.getLogger(__name__)

# The edge's sync.linger_ms unless set (OutboxPublisher's linger_s is 0 unless given): an event
# that comes while a batch is in flight waits for that batch's ack, at most this long. At an
# idle HQ the ack comes first (a few ms); a busy one is sent fewer, fuller batches.
LINGER_MS = 100


@dataclass(frozen=True)
class Batch:
    first_seq: int
    last_seq: int
    payload: bytes


class OutboxSource(Protocol):
    """What the publisher needs from the store's outbox."""

    def last_seq(self) -> int: ...

    async def batch_after(self, seq: int, limit: int, max_bytes: int) -> Batch | None:
        """The up payload of committed events after ``seq`` (None when there are none)."""

    async def record_ack(self, seq: int) -> None:
        """Durably record that the cloud has applied every event <= ``seq``."""


Publish = Callable[[str, bytes], Awaitable[int]]


class OutboxPublisher:
    def __init__(self, source: OutboxSource, publish: Publish, up_topic: str, acked_seq: int, *,
                 batch_max: int = 200, max_bytes: int = 256 * 1024, window: int = 8,
                 ack_timeout_s: float = 15.0, ack_write_interval_s: float = 0.2,
                 read_ahead: int = 2, linger_s: float = 0.0) -> None:
        """``linger_s``: while a batch is in flight, a batch short of ``batch_max`` waits
        for its ack, at most this long (Nagle's rule for batches): a busy HQ, slow to ack,
        is then sent fewer, fuller batches; 0 sends each as soon as the window allows."""
        self.source, self._publish, self.up_topic = source, publish, up_topic
        self.linger_s = linger_s
        self._held_since: float | None = None  # a short batch held since, while lingering
        self.batch_max, self.max_bytes, self.window = batch_max, max_bytes, window
        self.ack_timeout_s = ack_timeout_s
        self.acked_seq = acked_seq
        self.next_seq = acked_seq + 1  # first seq not yet sent in this session
        self.connected = False
        self.inflight: list[tuple[int, int]] = []  # (first, last) sent, not yet acked
        self.last_progress = time.monotonic()
        self.counters = {"batches": 0, "events": 0, "acks": 0, "resends": 0, "timeouts": 0,
                         "invalid_acks": 0}
        self._wake = asyncio.Event()
        self._ack_written = acked_seq
        self._ack_task: asyncio.Task[None] | None = None
        self.ack_write_interval_s = ack_write_interval_s
        self._ack_now = asyncio.Event()
        # the next batches, read (on the reader threads) while this one is published: (first
        # seq, the read). Only the first start is known; the others assume full batches (a
        # catch-up's are) and are dropped when a batch comes back shorter, as on a rewind.
        self.read_ahead = read_ahead
        self._ahead: collections.deque[tuple[int, asyncio.Task[Batch | None]]] = (
            collections.deque())

    # -- events from the outside ------------------------------------------------
    def notify(self) -> None:
        """New events were committed."""
        self._wake.set()

    def on_connected(self) -> None:
        """A new session: everything after the last ack is sent again."""
        self.connected = True
        self._rewind(self.acked_seq + 1)
        self.last_progress = time.monotonic()
        self._wake.set()

    def on_disconnected(self) -> None:
        self.connected = False
        self.inflight.clear()
        self._drop_ahead()

    def on_ack(self, payload: bytes) -> dict[str, Any] | None:
        """Act on an ``ack`` payload; the parsed ack (None when invalid), for what else it
        asks of the caller (``rebirth``)."""
        try:
            ack = messages.parse_ack(payload)
        except messages.MessageError as exc:
            self.counters["invalid_acks"] += 1
            log.warning("invalid ack dropped: %s", exc)
            return None
        self.handle_ack(ack)
        return ack

    def handle_ack(self, ack: dict[str, Any]) -> None:
        """Act on a parsed ack (``messages.parse_ack``) meant for this publisher."""
        applied = ack.get("applied_seq")
        if applied is not None and applied > self.acked_seq:
            if applied > self.source.last_seq():  # more than we ever committed: not ours
                self.counters["invalid_acks"] += 1
                log.warning("ack %d beyond our last seq %d ignored", applied,
                            self.source.last_seq())
                return
            # applied >= next_seq happens after a restart: HQ applied a previous session's
            # batches whose ack we had not stored yet. Skip what HQ already has.
            self.acked_seq = applied
            self.next_seq = max(self.next_seq, applied + 1)
            self.inflight = [b for b in self.inflight if b[1] > applied]
            self.counters["acks"] += 1
            self.last_progress = time.monotonic()
            self._persist_ack()
        resend = ack.get("resend_from")
        if resend is not None and resend < self.next_seq:
            self.counters["resends"] += 1
            if resend <= self.acked_seq:
                # Nearly always a request older than an ack we already have: HQ asks on its
                # reconnect from what it had applied when it listed the stores, and a worker
                # that saw a gap asks while another applies the batches before it. Resending
                # is harmless (HQ drops duplicates and acks again) and also covers the rare
                # case where HQ really lacks them.
                log.info("HQ asked for events from %d, though it has acknowledged up to %d "
                         "(its request was older than that ack): resending from %d; HQ drops "
                         "those it already has", resend, self.acked_seq, resend)
                self.acked_seq = resend - 1  # in memory only: the stored ack never goes down
            self._rewind(resend)
        self._wake.set()

    # -- the loop ----------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self._wait()
            held = False
            if self.connected:
                held = await self._send_ready()
            if not held:  # offline, window full or nothing to send: no batch is held
                self._held_since = None

    async def _send_ready(self) -> bool:
        """Resend after an ack timeout, and send what the window allows; whether a short
        batch is held back (``_hold``)."""
        if self.inflight and time.monotonic() - self.last_progress > self.ack_timeout_s:
            self.counters["timeouts"] += 1
            log.warning("no ack for %.0f s: resending from %d", self.ack_timeout_s,
                        self.acked_seq + 1)
            self._rewind(self.acked_seq + 1)
            self.last_progress = time.monotonic()
        while (self.connected and len(self.inflight) < self.window
               and self.next_seq <= self.source.last_seq()):
            if self._hold():
                return True
            if not await self._send_next():
                break
        return False

    def _hold(self) -> bool:
        """Whether the next batch waits (``linger_s``): it would be short of ``batch_max``,
        a batch is in flight, and it has not waited ``linger_s`` yet."""
        if (self.linger_s <= 0 or not self.inflight
                or self.source.last_seq() - self.next_seq + 1 >= self.batch_max):
            self._held_since = None
            return False
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = now
        if now - self._held_since >= self.linger_s:
            self._held_since = None
            return False
        return True

    async def _wait(self) -> None:
        timeout = self.ack_timeout_s / 3 if self.inflight else None
        if self._held_since is not None:  # wake when the held batch has waited long enough
            left = max(0.0, self._held_since + self.linger_s - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        self._wake.clear()

    async def _send_next(self) -> bool:
        start = self.next_seq
        batch = await self._read(start)
        if batch is None or self.next_seq != start:  # rewound meanwhile: start over
            return batch is not None
        self.next_seq = batch.last_seq + 1
        self._read_ahead()
        self.inflight.append((batch.first_seq, batch.last_seq))
        try:
            code = await self._publish(self.up_topic, batch.payload)
        except ConnectionError:
            self.connected = False
            return False
        if code >= 0x80:
            log.error("broker refused up batch %d..%d: reason %d", batch.first_seq,
                      batch.last_seq, code)
        self.counters["batches"] += 1
        self.counters["events"] += batch.last_seq - batch.first_seq + 1
        return True

    def _rewind(self, seq: int) -> None:
        self.next_seq = max(min(self.next_seq, seq), self.acked_seq + 1)
        self.inflight = [b for b in self.inflight if b[1] < self.next_seq]
        if self._ahead and self._ahead[0][0] != self.next_seq:
            self._drop_ahead()

    def _read_ahead(self) -> None:
        start = self._ahead[-1][0] + self.batch_max if self._ahead else self.next_seq
        last = self.source.last_seq()
        while len(self._ahead) < self.read_ahead and start <= last:
            read = asyncio.get_running_loop().create_task(
                self.source.batch_after(start - 1, self.batch_max, self.max_bytes))
            read.add_done_callback(retrieve)  # a dropped read's error is nobody's
            self._ahead.append((start, read))
            start += self.batch_max

    async def _read(self, start: int) -> Batch | None:
        if self._ahead and self._ahead[0][0] == start:
            batch = await self._ahead.popleft()[1]
            if batch is not None:
                return batch
            # Read before the event's commit made it readable (last_seq counts an event as
            # its transaction writes it), and the commit's wake-up may have come since: read
            # again, or that event waits for the next one.
        self._drop_ahead()  # they guessed a different start, or read too early
        return await self.source.batch_after(start - 1, self.batch_max, self.max_bytes)

    def _drop_ahead(self) -> None:
        while self._ahead:
            self._ahead.popleft()[1].cancel()

    async def close(self) -> None:
        """Stop the reads ahead (the run task is cancelled by its owner)."""
        reads = [read for _, read in self._ahead]
        self._drop_ahead()
        for read in reads:
            with contextlib.suppress(BaseException):
                await read

    # -- durable ack, coalesced: at most one write in flight and one per interval ------
    # An ack only needs to be stored for the next session (it resends from the stored ack, HQ
    # drops what it has) and for pruning. A commit with fsync per ack was a third of the CPU of a
    # catch-up drain (500 acks); storing the latest one every ack_write_interval_s loses nothing.
    def _persist_ack(self) -> None:
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.get_running_loop().create_task(self._write_acks())

    async def _write_acks(self) -> None:
        while self._ack_written < self.acked_seq:
            target = self.acked_seq
            try:
                await self.source.record_ack(target)
            except Exception:  # storage trouble: the ack is re-derived on the next session
                log.exception("could not record ack %d", target)
                return
            self._ack_written = target
            if not self._ack_now.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.ack_write_interval_s):
                        await self._ack_now.wait()

    async def flush_acks(self) -> None:
        """Store the latest ack now (on stop)."""
        self._ack_now.set()
        if self._ack_written < self.acked_seq:
            self._persist_ack()
        if self._ack_task is not None:
            await asyncio.shield(self._ack_task)


def retrieve(future: asyncio.Future[Any]) -> None:
    """Done callback of a future nobody may await: its exception counts as retrieved (asyncio
    would log it as never retrieved)."""
    if not future.cancelled():
        future.exception()
