"""``Ingest``: the cloud's consumer of ``…/up`` batches and ``…/state`` births and deaths.

Everything goes to the Ingest's own database thread in the order it arrived. Batches that
arrive while that thread is busy wait, and go together as one group: one transaction, one
commit for all of them (``SyncOps.apply_batches``: group commit). An idle HQ applies each
batch at once; a busy one applies many stores' small batches for the cost of one. A gap
is retried a few times after a short wait, since another worker may be applying the batch
before, then answered with ``resend_from``. The ack is published only after the commit.
Bad topics and payloads are counted and dropped, never raised.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from prometheus_client import Histogram

from cloud.config import GROUP_BYTES
from cloud.db.thread import DbThread
from cloud.feed.results import Ack, StateResult
from cloud.sync.publisher import FeedPublisher
from sync import messages, topics

if TYPE_CHECKING:
    from cloud.database import CloudDb

log = logging.getLogger(__name__)

T = TypeVar("T")
Publish = Callable[[str, bytes], Awaitable[int]]
# a group of batches applied in one transaction: at most this many (and GROUP_BYTES)
GROUP_BATCHES: Final = 200
COUNTERS: Final = (
    "events_applied", "batches_applied", "groups", "grouped_batches", "group_fallbacks",
    "duplicates", "gaps", "gap_retries", "rejected",
    "invalid_topic", "db_errors", "acks_sent", "acks_failed",
    "births", "deaths", "states_ignored",
)
# seconds from a batch taken from the broker to its ack handed back: HQ's own part of a
# store's lag (the rest is the network, the broker and the store)
ACK_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class _Job:
    """Work for the database thread: an ``up`` batch (``batch``) or a call (``fn``)."""

    future: asyncio.Future[Any]
    batch: tuple[str, str, bytes] | None = None
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = field(default=())
    pushed: asyncio.Task[int] | None = None  # the feed push of the batch's group, if any

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.future.done():  # its waiter was cancelled
            return
        if error is not None:
            self.future.set_exception(error)
            self.future.exception()  # retrieved: the waiter may be gone
        else:
            self.future.set_result(result)


class Ingest:
    def __init__(self, db: CloudDb, publish: Publish, *, gap_retries: int = 3,
                 gap_wait_s: float = 0.05, feed: FeedPublisher | None = None,
                 group_bytes: int = GROUP_BYTES) -> None:
        """``feed``: when given, an accepted birth replays the store's down feed through it;
        ``group_bytes``: the most a group of batches applied in one transaction holds."""
        self.db, self.publish, self.feed = db, publish, feed
        self.group_bytes = group_bytes
        self.gap_retries, self.gap_wait_s = gap_retries, gap_wait_s
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # exported by the HQ app's /metrics (cloud/api/metrics.py), not registered globally
        self.ack_seconds = Histogram(
            "storenode_cloud_ingest_ack_seconds",
            "Seconds from an up batch taken from the broker to its ack sent (this process)",
            buckets=ACK_BUCKETS, registry=None)
        self._thread = DbThread("cloud-ingest")
        self._tasks: set[asyncio.Task[object]] = set()
        self._applied: dict[str, asyncio.Event] = {}  # store -> set at its next applied batch
        self._jobs: deque[_Job] = deque()  # for the database thread, in arrival order
        self._runner: asyncio.Task[None] | None = None  # takes them, while there are any

    def dispatch(self, topic: str, payload: bytes, retained: bool = False
                 ) -> asyncio.Task[object] | None:
        """An ``MqttClient.on_message`` callback: handle the message in a task of its own,
        returned so that the client acknowledges the message to the broker only when it is
        done (backpressure: the broker's in-flight limit bounds what this process holds).
        ``retained`` (``on_retained``): the broker sent it from its retained store."""
        parsed = topics.parse(topic)
        if parsed is None or parsed.kind not in ("up", "state"):
            self.counters["invalid_topic"] += 1
            return None
        work = (self.handle(topic, payload) if parsed.kind == "up"
                else self.handle_state(topic, payload, retained))
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            work, name=f"ingest-{parsed.kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def on_db_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the ingest's database thread, after the messages taken so far
        (their tasks have queued their calls there already); raises what it raises."""
        await asyncio.sleep(0)  # let the tasks of messages taken so far queue their jobs
        result: T = await self._submit(_Job(asyncio.get_running_loop().create_future(),
                                            fn=fn, args=args))
        return result

    async def applied(self, store: str, timeout: float) -> bool:
        """Wait until this process applies a batch of ``store`` (True) or ``timeout`` passes
        (False): HQ's relay of a guest order learns of the store's answer at once. Another
        worker process may apply it instead: the caller looks again after the timeout."""
        event = self._applied.setdefault(store, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Wait for the messages being handled, then end the database thread."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        await self._thread.close()

    async def handle(self, topic: str, payload: bytes) -> Ack | None:
        """Apply one ``up`` payload and publish its ack; the outcome (None: not handled)."""
        taken = time.monotonic()
        parsed = self._parse(topic, "up")
        if parsed is None:
            return None
        job = await self._apply(parsed, payload)
        for _ in range(self.gap_retries):
            if job.future.exception() is not None or job.future.result().kind != "gap":
                break
            self.counters["gap_retries"] += 1
            await asyncio.sleep(self.gap_wait_s)
            job = await self._apply(parsed, payload)
        if job.future.exception() is not None:  # the database failed: no ack, the edge resends
            return None
        ack: Ack = job.future.result()
        self._count(ack)
        if ack.kind == "applied" and (woken := self._applied.pop(parsed.store, None)):
            woken.set()
        await self._send_ack(parsed.tenant, parsed.store, ack)
        self.ack_seconds.observe(time.monotonic() - taken)
        if job.pushed is not None:  # member changes its group sent to stores
            await asyncio.shield(job.pushed)
        return ack

    async def _apply(self, parsed: topics.Topic, payload: bytes) -> _Job:
        """The batch applied with the others waiting then: its job, done (its future holds
        the ack, or the database's error, logged and counted already)."""
        job = _Job(asyncio.get_running_loop().create_future(),
                   batch=(parsed.tenant, parsed.store, payload))
        await asyncio.wait([self._submit(job)])
        return job

    def _submit(self, job: _Job) -> asyncio.Future[Any]:
        self._jobs.append(job)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(),
                                                                  name="ingest-db")
        return job.future

    async def _run(self) -> None:
        """Hand the jobs to the database thread: a call alone, consecutive batches as a group
        (what arrived while the previous group was being applied)."""
        while self._jobs:
            if self._jobs[0].batch is None:
                job = self._jobs.popleft()
                assert job.fn is not None
                try:
                    job.settle(await self._thread.call(job.fn, *job.args))
                except Exception as exc:
                    job.settle(error=exc)
                continue
            group: list[_Job] = []
            size = 0
            while (self._jobs and self._jobs[0].batch is not None
                   and len(group) < GROUP_BATCHES and size < self.group_bytes):
                group.append(self._jobs.popleft())
                size += len(group[-1].batch[2])  # type: ignore[index]
            await self._run_group(group)

    async def _run_group(self, group: list[_Job]) -> None:
        batches = [job.batch for job in group if job.batch is not None]
        try:
            acks, feed, grouped = await self._thread.call(self.db.apply_batches, batches)
        except Exception as exc:
            log.exception("applying %d batches failed (%s ...)", len(batches),
                          ", ".join(b[1] for b in batches[:5]))
            self.counters["db_errors"] += len(batches)
            for job in group:
                job.settle(error=exc)
            return
        if grouped:
            self.counters["groups"] += 1
            self.counters["grouped_batches"] += len(batches)
        elif len(batches) > 1:
            self.counters["group_fallbacks"] += 1
        pushed = None
        if feed and self.feed is not None:  # member changes the batches sent to stores
            pushed = asyncio.get_running_loop().create_task(self.feed.push(feed),
                                                            name="ingest-feed")
            self._tasks.add(pushed)
            pushed.add_done_callback(self._tasks.discard)
        for job, ack in zip(group, acks, strict=True):
            job.pushed = pushed
            job.settle(ack)

    def _parse(self, topic: str, kind: str) -> topics.Topic | None:
        parsed = topics.parse(topic)
        if parsed is None or parsed.kind != kind:
            self.counters["invalid_topic"] += 1
            return None
        return parsed

    async def _call(self, fn: Callable[[str, str, bytes], T], parsed: topics.Topic,
                    payload: bytes) -> T | None:
        """``fn(tenant, store, payload)`` on the database thread, in turn with the batches
        taken before it; None if it raised."""
        try:
            result: T = await self._submit(_Job(asyncio.get_running_loop().create_future(),
                                                fn=fn, args=(parsed.tenant, parsed.store,
                                                             payload)))
            return result
        except Exception:
            log.exception("%s of %s failed", getattr(fn, "__name__", fn), parsed.store)
            self.counters["db_errors"] += 1
            return None

    def _count(self, ack: Ack) -> None:
        if ack.kind == "applied":
            self.counters["batches_applied"] += 1
            self.counters["events_applied"] += ack.events_applied
        elif ack.kind == "duplicate":
            self.counters["duplicates"] += 1
        elif ack.kind == "gap":
            self.counters["gaps"] += 1
        else:
            self.counters["rejected"] += 1
            log.warning("batch rejected: %s", ack.reason)

    async def _send_ack(self, tenant: str, store: str, ack: Ack) -> None:
        message = ack.message()
        if message is not None:
            await self._publish_ack(tenant, store, message)

    async def _publish_ack(self, tenant: str, store: str, message: dict[str, Any]) -> None:
        try:
            code = await self.publish(topics.topic(tenant, store, "ack"), messages.encode(message))
        except ConnectionError as exc:  # the edge resends after its reconnect: a duplicate
            log.warning("ack to %s not sent: %s", store, exc)
            code = 0x80
        self.counters["acks_sent" if code < 0x80 else "acks_failed"] += 1

    async def handle_state(self, topic: str, payload: bytes,
                           retained: bool = False) -> StateResult | None:
        """Record a birth or death; an accepted birth replays the feed when ``feed`` is set."""
        parsed = self._parse(topic, "state")
        if parsed is None:
            return None
        result = await self._call(functools.partial(self.db.record_state, retained=retained),
                                  parsed, payload)
        if result is None:
            return None
        if not result.accepted:
            self.counters["states_ignored"] += 1
            if result.ack is not None:  # a superseded box: told so, on its ack topic
                await self._publish_ack(parsed.tenant, parsed.store, result.ack)
            return result
        self.counters["births" if result.online else "deaths"] += 1
        if result.replay_from is not None and self.feed is not None:
            await self.feed.replay(parsed.tenant, parsed.store, result.replay_from)
        others = {s: c for s, c in result.feed.items() if s != parsed.store}  # replayed above
        if others and self.feed is not None:  # a settlement shrank other stores' leases
            await self.feed.push(others)
        return result
