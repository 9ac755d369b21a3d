"""The outbox publisher's own rules, against an in-memory outbox and a recording publish:
reads ahead of the window without losing or doubling an event, drops its guesses on a short
batch or a rewind, and stores acks coalesced but never loses the last one on stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from sync.publisher import Batch, OutboxPublisher

TOPIC = "up"


class Outbox:
    """``events`` events of ``size`` bytes each (seq 1..n); records reads and stored acks."""

    def __init__(self, events: int, size: int = 100) -> None:
        self.n, self.size = events, size
        self.reads: list[int] = []  # the ``after`` of each read
        self.in_flight = self.max_in_flight = 0
        self.acks: list[int] = []
        self.gate: asyncio.Event | None = None  # when set, reads wait for it
        # when set, reads see events up to this seq only: the edge counts an event in
        # last_seq as its transaction writes it, before the commit makes it readable
        self.visible: int | None = None

    def last_seq(self) -> int:
        return self.n

    async def batch_after(self, seq: int, limit: int, max_bytes: int) -> Batch | None:
        self.reads.append(seq)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # a reader thread's time
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.in_flight -= 1
        last = self.n if self.visible is None else min(self.n, self.visible)
        if seq >= last:
            return None
        count = max(1, min(limit, last - seq, max_bytes // self.size))
        seqs = list(range(seq + 1, seq + count + 1))
        return Batch(seq + 1, seq + count, json.dumps({"seqs": seqs}).encode())

    async def record_ack(self, seq: int) -> None:
        await asyncio.sleep(0.001)
        self.acks.append(seq)


class Sent:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.batches: list[tuple[int, int]] = []

    async def __call__(self, topic: str, payload: bytes) -> int:
        seqs = json.loads(payload)["seqs"]
        self.seqs += seqs
        self.batches.append((seqs[0], seqs[-1]))
        return 0


def ack(seq: int) -> bytes:
    return b'{"v":1,"applied_seq":%d}' % seq


async def run_until(publisher: OutboxPublisher, done: object, timeout: float = 5) -> None:
    task = asyncio.create_task(publisher.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():  # type: ignore[operator]
                await asyncio.sleep(0.002)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await publisher.close()
        await publisher.flush_acks()


async def test_catch_up_reads_ahead_and_sends_each_event_once_in_order() -> None:
    outbox, sent = Outbox(2000), Sent()
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=50, window=4, read_ahead=3)
    pub.on_connected()

    async def acker() -> None:  # an HQ that acks what was sent
        while True:
            if sent.batches and sent.batches[-1][1] > pub.acked_seq:
                pub.on_ack(ack(sent.batches[-1][1]))
            await asyncio.sleep(0.001)

    acking = asyncio.create_task(acker())
    try:
        await run_until(pub, lambda: pub.acked_seq == 2000)
    finally:
        acking.cancel()
        await asyncio.gather(acking, return_exceptions=True)
    assert sent.seqs == list(range(1, 2001))
    assert outbox.max_in_flight >= 2  # reads overlapped
    assert sorted(outbox.reads) == sorted(set(outbox.reads))  # no batch read twice
    assert outbox.acks[-1] == 2000
    assert len(outbox.acks) < 10, outbox.acks  # 40 acks, coalesced


async def test_a_short_batch_drops_the_guessed_reads() -> None:
    """Events of 600 bytes under a 2000-byte budget: 3 a batch, not the 50 the reads ahead
    assumed. Every guess is dropped; nothing is skipped or sent twice."""
    outbox, sent = Outbox(100, size=600), Sent()
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=50, max_bytes=2000, window=100,
                          read_ahead=3)
    pub.on_connected()
    await run_until(pub, lambda: sent.seqs and sent.seqs[-1] == 100)
    assert sent.seqs == list(range(1, 101))
    assert all(last - first == 2 for first, last in sent.batches[:-1])


async def test_resend_from_drops_reads_ahead_and_starts_at_the_asked_seq() -> None:
    outbox, sent = Outbox(1000), Sent()
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=50, window=4, read_ahead=2)
    pub.on_connected()
    task = asyncio.create_task(pub.run())
    try:
        async with asyncio.timeout(5):
            while len(sent.batches) < 4:  # the window is full; reads ahead are pending
                await asyncio.sleep(0.002)
        assert pub._ahead
        pub.on_ack(b'{"v":1,"applied_seq":20,"resend_from":21}')  # HQ has 1..20 only
        assert not pub._ahead or pub._ahead[0][0] == 21
        async with asyncio.timeout(5):
            while sent.seqs.count(21) < 2:
                await asyncio.sleep(0.002)
        again = sent.seqs[sent.seqs.index(21, 25):]
        assert again[:50] == list(range(21, 71))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pub.close()
        await pub.flush_acks()
    assert outbox.acks[-1] == 20


async def test_a_disconnect_drops_reads_ahead_and_close_leaves_no_task() -> None:
    outbox, sent = Outbox(1000), Sent()
    outbox.gate = asyncio.Event()  # reads hang until released
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=50, window=4, read_ahead=2)
    pub.on_connected()
    pub._read_ahead()
    assert len(pub._ahead) == 2
    reads = [read for _, read in pub._ahead]
    pub.on_disconnected()
    assert not pub._ahead
    await asyncio.sleep(0)
    assert all(read.cancelled() or read.done() for read in reads)
    pub._read_ahead()
    await pub.close()
    assert not pub._ahead
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_the_last_ack_is_stored_on_stop_even_inside_the_interval() -> None:
    outbox, sent = Outbox(300), Sent()
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, ack_write_interval_s=60)
    for seq in (10, 20, 30):
        pub.on_ack(ack(seq))
        await asyncio.sleep(0.01)
    assert outbox.acks == [10]  # the next write waits for the interval
    await pub.flush_acks()
    assert outbox.acks == [10, 30]


@contextlib.asynccontextmanager
async def running(pub: OutboxPublisher) -> AsyncIterator[None]:
    pub.on_connected()
    task = asyncio.create_task(pub.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pub.close()


async def _trickle(pub: OutboxPublisher, outbox: Outbox, sent: Sent, upto: int) -> None:
    """Events 2..``upto`` committed one at a time while batch 1 waits for its ack."""
    while not sent.batches:
        await asyncio.sleep(0.002)
    for seq in range(2, upto + 1):
        outbox.n = seq
        pub.notify()
        await asyncio.sleep(0.02)


def trickled(linger_s: float = 0.0) -> tuple[Outbox, Sent, OutboxPublisher]:
    """One event committed, and a publisher of batches up to 50, lingering ``linger_s``."""
    outbox, sent = Outbox(1), Sent()
    return outbox, sent, OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=50, window=8,
                                         read_ahead=0, linger_s=linger_s)


async def _batches(sent: Sent, count: int) -> None:
    async with asyncio.timeout(2):
        while len(sent.batches) < count:
            await asyncio.sleep(0.002)


async def test_without_linger_each_event_goes_as_soon_as_the_window_allows() -> None:
    outbox, sent, pub = trickled()
    async with running(pub):
        await _trickle(pub, outbox, sent, 4)
        assert sent.batches == [(1, 1), (2, 2), (3, 3), (4, 4)]


async def test_lingering_sends_what_came_while_a_batch_was_in_flight_as_one_batch() -> None:
    """Nagle's rule for batches: a busy HQ, slow to ack, gets fewer, fuller batches."""
    outbox, sent, pub = trickled(linger_s=5.0)
    async with running(pub):
        await _trickle(pub, outbox, sent, 4)
        assert sent.batches == [(1, 1)]  # held while batch 1 is in flight
        pub.on_ack(ack(1))
        await _batches(sent, 2)
        assert sent.batches == [(1, 1), (2, 4)]
        outbox.n = 60  # a full batch does not wait, even with one in flight
        pub.notify()
        await _batches(sent, 3)
        assert sent.batches[2] == (5, 54)


async def test_a_held_batch_goes_after_linger_s_without_an_ack() -> None:
    outbox, sent, pub = trickled(linger_s=0.3)
    async with running(pub):
        await _trickle(pub, outbox, sent, 3)
        assert sent.batches == [(1, 1)]
        await _batches(sent, 2)
        assert sent.batches == [(1, 1), (2, 3)]  # no ack came: sent once it had waited


async def test_an_event_read_ahead_before_its_commit_is_read_again() -> None:
    """Event 2 is counted (last_seq) but not yet readable when batch 1 is sent, so the read
    ahead of it finds nothing; its commit's wake-up comes while batch 2 lingers, before the
    ack. Sending the stale read's nothing then left event 2 unsent until the next event."""
    outbox, sent = Outbox(2), Sent()
    outbox.visible = 1
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=50, window=8, read_ahead=2,
                          linger_s=5.0)
    async with running(pub):
        await _batches(sent, 1)
        assert sent.batches == [(1, 1)]
        await asyncio.sleep(0.02)  # the read ahead of event 2 is done: nothing
        outbox.visible = None  # event 2 committed
        pub.notify()
        await asyncio.sleep(0.02)
        assert sent.batches == [(1, 1)]  # lingering: batch 1 is in flight
        pub.on_ack(ack(1))
        await _batches(sent, 2)
        assert sent.batches == [(1, 1), (2, 2)]


async def test_a_batch_held_when_the_broker_goes_does_not_keep_the_loop_awake() -> None:
    """A hold ends with the session: offline (the shop's usual trouble) the loop sleeps until
    something happens, it does not wake every turn of the event loop for a linger that is
    over."""
    outbox, sent, pub = trickled(linger_s=0.05)
    turns = 0
    wait = pub._wait

    async def counted() -> None:
        nonlocal turns
        turns += 1
        await wait()

    pub._wait = counted  # type: ignore[method-assign]
    async with running(pub):
        await _trickle(pub, outbox, sent, 2)  # event 2 held: batch 1 is in flight
        pub.on_disconnected()
        pub.notify()
        await asyncio.sleep(0.5)
        turns_offline = turns
        await asyncio.sleep(0.5)
        assert turns - turns_offline <= 2, turns - turns_offline
        pub.on_connected()  # the next session sends everything after the last ack
        await _batches(sent, 2)
        assert sent.batches[1] == (1, 2)
