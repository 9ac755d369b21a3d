"""A fleet of simulated stores speaking the real sync protocol (issue 19; docs/scale.md).

Each simulated store is what an edge box is to HQ, minus the shop: the real MQTT client
(``sync.mqtt.MqttClient``: clean start, a Will, capped back-off with jitter) and the real
outbox publisher (``sync.publisher.OutboxPublisher``: batches, a window, app-level acks,
resends on ``resend_from`` and on every reconnect), fed from an in-memory outbox of events
of the usual daily mix (orders with lines and stock, status changes, payments, members,
ledger entries, probe visits). It publishes its birth with a ``bd_seq`` it increments before
every connect, answers HQ's rebirth requests, and applies the change feed by cursor,
re-publishing its birth on a gap, as ``edge/syncer/link.py`` does.

Run as a child process, driven by a script of steps on the command line (a JSON file):
``python -m devtools.fleet SPEC.json``. It prints one JSON line per step. A ``pause`` step
prints ``{"pause": name}`` and waits for a line on stdin: the parent restarts the broker or
HQ meanwhile. Steps:

- ``{"do": "connect", "timeout_s"}``: start every store, wait until all are connected;
- ``{"do": "load", "rate", "seconds", "warmup_s"}``: every store emits events at ``rate``
  a second (Poisson arrivals); after the warm-up, count offered and applied events and the
  lag of each event from its commit at the store to the ack for it coming back (the round
  trip through the broker, HQ's commit and the ack); prints ``{"measuring": true}`` when the
  window opens so the parent can sample CPU;
- ``{"do": "backlog", "events"}``: append that many events to every store's outbox at once
  (e.g. while the broker is down);
- ``{"do": "drain", "timeout_s"}``: wait until every store's events are all acked; per
  store, the seconds from the step's start to its last ack (catch-up time);
- ``{"do": "watch", "type", "key", "value", "timeout_s"}``: wait until every store applied a
  change of ``type`` whose ``data[key] == value``; per store, the seconds until it did;
- ``{"do": "pause", "name"}``; ``{"do": "stop"}``: clean goodbye of every store.

The load, drain and watch results carry the figures they summarise under ``raw``, so that a
parent running the fleet as several processes (one event loop saturates past a few hundred
stores on a slow machine) merges them (tests/bench/fleet_run.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson

from common.clock import iso, utc_now
from common.ids import new_ulid
from sync import hlc as hlclib
from sync import messages, topics
from sync.mqtt import MqttClient, Will
from sync.publisher import LINGER_MS, Batch, OutboxPublisher

VERSION: Final = "fleet-sim"
SKUS: Final = tuple(f"C{n:03d}" for n in range(1, 31))
STATUSES: Final = ("accepted", "preparing", "ready", "completed")
CHANNELS: Final = ("pos", "pos", "pos", "dine_in_qr", "meituan", "eleme", "mini_program")
ZONES: Final = ("entrance", "counter", "pickup")
VISITOR_AGE_S: Final = 5.0  # another store's member visits once it is this old


class Mix:
    """One store's events of the daily mix. An order is placed with 1-4 lines and their stock
    deltas; its status changes, its payment and (for a member's order) its points follow as
    later events, so a store's outbox interleaves several orders as a till's does."""

    def __init__(self, store: str, rng: random.Random, members: bool = True,
                 pool: list[tuple[str, str, float]] | None = None, seek: bool = False) -> None:
        self.store, self.rng, self.with_members = store, rng, members
        self.clock = hlclib.HybridLogicalClock()
        self.orders = 0
        self.members: list[str] = []
        # every store's members (id, idhash, made): 3 % of orders are by a member of
        # another store, looked up first (``seek``: with HQ's followers fan-out the till does
        # not know it and sends member.sought; else member.lookup)
        self.pool = [] if pool is None else pool
        self.seek = seek
        self.follow: list[tuple[str, dict[str, Any]]] = []  # events due after an order

    def next(self) -> tuple[str, dict[str, Any]]:
        if self.follow and self.rng.random() < 0.8:
            return self.follow.pop(0)
        roll = self.rng.random()
        if roll < 0.04:
            return self._stock()
        if roll < 0.10:
            return self._probe()
        if self.with_members and (roll < 0.12 or not self.members):
            return self._member()
        if self.members and len(self.pool) > 1 and self.rng.random() < 0.03:
            return self._visitor()
        return self._order()

    def _visitor(self) -> tuple[str, dict[str, Any]]:
        """A member of another store orders here: the till looks it up first."""
        member, idhash, made = self.rng.choice(self.pool)
        if time.monotonic() - made < VISITOR_AGE_S:  # HQ may not have it yet: a till would not
            return self._order()
        self.follow.insert(0, self._order(member))
        if self.seek:
            return "member.sought", {"identity": {"kind": "phone", "idhash": idhash}}
        return "member.lookup", {"member": member}

    def _order(self, visitor: str | None = None) -> tuple[str, dict[str, Any]]:
        self.orders += 1
        at = iso(utc_now())
        order_id = new_ulid()
        lines: list[dict[str, Any]] = []
        for n, sku in enumerate(self.rng.sample(SKUS, self.rng.randint(1, 4)), 1):
            qty, unit = self.rng.randint(1, 3), self.rng.randrange(600, 4800, 100)
            lines.append({"line_no": n, "sku": sku, "name": f"Dish {sku}", "qty": qty,
                          "unit_cents": unit, "total_cents": qty * unit, "station": "kitchen",
                          "note": None})
        member = visitor or (self.rng.choice(self.members)
                             if self.members and self.rng.random() < 0.3 else None)
        total = sum(line["total_cents"] for line in lines)
        order = {"id": order_id, "number": self.orders, "day": at[:10],
                 "channel": self.rng.choice(CHANNELS), "status": "placed",
                 "total_cents": total, "member": member, "table": None, "pickup": False,
                 "created_at": at, "updated_at": at, "lines": lines, "stations": ["kitchen"]}
        stock = [{"sku": line["sku"], "delta": -line["qty"], "on_hand": 0} for line in lines]
        previous = "placed"
        for status in STATUSES[:self.rng.choice((2, 3, 4))]:
            self.follow.append(("order.status_changed", {
                "order": {**order, "status": status}, "from": previous, "to": status}))
            previous = status
        self.follow.append(("order.paid", {
            "order_id": order_id, "number": self.orders, "total_cents": total,
            "paid_cents": total, "change_cents": 0, "at": at,
            "tenders": [{"kind": "wechat", "amount_cents": total}]}))
        if member is not None:
            self.follow.append(("ledger.entry", {
                "entry_id": new_ulid(), "member": member, "account": "points", "kind": "earn",
                "amount": total // 100, "store": self.store, "order_id": order_id,
                "lease_id": None, "at": at, "hlc": self.clock.now()}))
        return "order.placed", {"order": order, "stock": stock}

    def _stock(self) -> tuple[str, dict[str, Any]]:
        return "stock.moved", {"sku": self.rng.choice(SKUS), "delta": self.rng.randint(5, 40),
                               "reason": "receipt", "ref": None, "on_hand": 0}

    def _probe(self) -> tuple[str, dict[str, Any]]:
        at = iso(utc_now())
        return "probe.visit", {"zone": self.rng.choice(ZONES), "day": at[:10],
                               "started_at": at, "ended_at": at,
                               "dwell_s": self.rng.randint(5, 600),
                               "peak_rssi": -self.rng.randint(40, 90)}

    def _member(self) -> tuple[str, dict[str, Any]]:
        member = new_ulid()
        idhash = "%064x" % self.rng.getrandbits(256)
        self.members.append(member)
        self.pool.append((member, idhash, time.monotonic()))
        at = iso(utc_now())
        return "member.created", {
            "member": {"id": member, "origin": self.store, "created_at": at,
                       "hlc": self.clock.now()},
            "identities": [{"kind": "phone", "idhash": idhash,
                            "last4": f"{self.rng.randrange(10_000):04d}"}]}


class SimStore:
    """One store: its outbox, publisher, MQTT session and view of the change feed."""

    def __init__(self, fleet: Fleet, store: str, tenant: str, password: str) -> None:
        self.fleet, self.store = fleet, store
        self.topic = {kind: topics.topic(tenant, store, kind) for kind in topics.KINDS}
        self.mix = Mix(store, random.Random(store), fleet.members, fleet.pool,
                       seek=fleet.fanout == "followers")
        # each event's JSON, encoded once when it is committed, as the store's outbox keeps
        # it; a batch splices them (edge/syncer/sql.py): the simulator pays what a store pays
        self.events: list[bytes] = []
        self.committed: list[float] = []  # monotonic commit time of each seq
        self.acked = 0
        self.last_ack_at = 0.0
        self.bd_seq = 0
        self.down_cursor = 0
        self.counters = {"births": 0, "connects": 0, "down_messages": 0, "down_gaps": 0,
                         "changes": 0, "invalid_acks": 0}
        self.client = MqttClient(fleet.broker, f"edge-{store}", username=store,
                                 password=password, keepalive=fleet.keepalive_s)
        self.client.before_connect = self._before_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.publisher = OutboxPublisher(self, self.client.publish_detached, self.topic["up"], 0,
                                         batch_max=200, window=8,
                                         ack_timeout_s=max(10.0, 2.0 * fleet.keepalive_s),
                                         linger_s=fleet.linger_ms / 1000)
        self.task: asyncio.Task[None] | None = None
        self._births: set[asyncio.Task[None]] = set()

    # -- the outbox ------------------------------------------------------------------
    def emit(self, n: int = 1) -> None:
        now = time.monotonic()
        for _ in range(n):
            kind, data = self.mix.next()
            seq = len(self.events) + 1
            self.events.append(orjson.dumps({
                "event_id": new_ulid(), "store": self.store, "seq": seq, "type": kind, "v": 1,
                "at": iso(utc_now()), "hlc": self.mix.clock.now(), "data": data}))
            self.committed.append(now)
        self.publisher.notify()

    def last_seq(self) -> int:
        return len(self.events)

    async def batch_after(self, seq: int, limit: int, max_bytes: int) -> Batch | None:
        chosen = self.events[seq:seq + limit]
        if not chosen:
            return None
        last = seq + len(chosen)
        return Batch(seq + 1, last, messages.up_payload(self.store, 1, seq + 1, last,
                                                        b",".join(chosen)))

    async def record_ack(self, seq: int) -> None:
        """Nothing to store: the fleet keeps its outbox in memory for the run."""

    # -- MQTT ------------------------------------------------------------------------
    async def _before_connect(self) -> Will:
        self.bd_seq += 1
        self.counters["connects"] += 1
        return Will(self.topic["state"], messages.encode(messages.death(self.bd_seq)))

    async def _on_connect(self) -> None:
        try:
            await self.client.subscribe([self.topic["ack"], self.topic["down"]])
            await self._birth()
        except ConnectionError:
            return
        self.publisher.on_connected()

    def _on_disconnect(self) -> None:
        self.publisher.on_disconnected()

    async def _birth(self) -> None:
        self.counters["births"] += 1
        birth = messages.birth(self.bd_seq, self.down_cursor, VERSION, self.last_seq(),
                               keepalive=self.fleet.keepalive_s)
        await self.client.publish(self.topic["state"], messages.encode(birth), retain=True)

    def _rebirth(self) -> None:
        async def again() -> None:
            with contextlib.suppress(ConnectionError):
                await self._birth()
        task = asyncio.get_running_loop().create_task(again())
        self._births.add(task)
        task.add_done_callback(self._births.discard)

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == self.topic["ack"]:
            self._on_ack(payload)
        elif topic == self.topic["down"]:
            self._on_down(payload)

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = messages.parse_ack(payload)
        except messages.MessageError:
            self.counters["invalid_acks"] += 1
            return
        self.publisher.handle_ack(ack)
        applied = min(int(ack.get("applied_seq", 0)), len(self.events))
        if applied > self.acked:
            now = time.monotonic()
            self.fleet.acked(self, self.acked, applied, now)
            self.acked, self.last_ack_at = applied, now
        if ack.get("rebirth"):
            self._rebirth()

    def _on_down(self, payload: bytes) -> None:
        self.counters["down_messages"] += 1
        try:
            message = messages.parse_down(payload)
        except messages.MessageError:
            return
        if message["from_cursor"] > self.down_cursor:  # a gap: ask for a replay
            self.counters["down_gaps"] += 1
            self._rebirth()
            return
        now = time.monotonic()
        for change in message["changes"]:
            if change["cursor"] > self.down_cursor:
                self.counters["changes"] += 1
                self.fleet.changed(self, change, now)
        if message.get("reset"):
            self.down_cursor = message["cursor"]
        else:
            self.down_cursor = max(self.down_cursor, message["cursor"])

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.client.start()
        self.task = asyncio.create_task(self.publisher.run())

    async def stop(self) -> None:
        if self.client.connected.is_set():
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(2):
                    await self.client.publish(self.topic["state"], messages.encode(
                        messages.death(self.bd_seq)), retain=True)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        for task in list(self._births):
            task.cancel()
        await self.publisher.close()
        await self.client.close()


class Fleet:
    def __init__(self, broker: str, stores: list[dict[str, str]], keepalive_s: int = 30,
                 members: bool = True, fanout: str = "tenant",
                 linger_ms: int = LINGER_MS) -> None:
        self.broker, self.keepalive_s, self.members = broker, keepalive_s, members
        self.linger_ms = linger_ms  # the stores' sync.linger_ms (the edge's default unless set)
        self.fanout = fanout  # HQ's members.fanout: how a till meets another store's member
        self.pool: list[tuple[str, str, float]] = []  # every store's members (Mix.pool)
        self.stores = [SimStore(self, s["store"], s["tenant"], s["password"]) for s in stores]
        self.lags: list[float] | None = None  # collecting while a load step measures
        self.applied_in_window = 0
        self.watch: tuple[str, str, Any, dict[str, float], float] | None = None
        self.first_ack: float | None = None  # the first ack a drain step saw

    def acked(self, store: SimStore, before: int, applied: int, now: float) -> None:
        if self.first_ack is None:
            self.first_ack = now
        if self.lags is not None:
            self.lags.extend(now - store.committed[i] for i in range(before, applied))
            self.applied_in_window += applied - before

    def changed(self, store: SimStore, change: dict[str, Any], now: float) -> None:
        if self.watch is None:
            return
        kind, key, value, seen, started = self.watch
        data = change.get("data")
        if change.get("type") == kind and isinstance(data, dict) and data.get(key) == value:
            seen.setdefault(store.store, now - started)

    # -- steps ------------------------------------------------------------------------
    async def connect(self, timeout_s: float = 120) -> dict[str, Any]:
        started = time.monotonic()
        for store in self.stores:
            store.start()
        await _until(lambda: all(s.client.connected.is_set() for s in self.stores), timeout_s)
        return {"connected": len(self.stores), "seconds": time.monotonic() - started}

    async def load(self, rate: float, seconds: float, warmup_s: float = 5.0
                   ) -> dict[str, Any]:
        """Poisson arrivals at ``rate`` events/s per store; the window opens after warm-up."""
        rng = random.Random(7)
        stalls: list[float] = []  # how late this loop wakes from a 10 ms sleep, in the window
        watcher = asyncio.create_task(_watch_loop(stalls))
        start = time.monotonic()
        due = [(start + rng.expovariate(rate), n) for n in range(len(self.stores))]
        heapq.heapify(due)
        window_at, end = start + warmup_s, start + warmup_s + seconds
        offered, measuring, first_seq = 0, False, [0] * len(self.stores)
        while True:
            now = time.monotonic()
            if not measuring and now >= window_at:
                measuring = True
                stalls.clear()
                self.lags, self.applied_in_window = [], 0
                first_seq = [len(s.events) for s in self.stores]
                _say({"measuring": True})
            if now >= end:
                break
            touched: dict[int, int] = {}
            while due and due[0][0] <= now:
                # the next arrival counts from this one's time, not from when the loop got to
                # it: a loop slowed by the processes it shares the cores with still offers
                # the rate (in bursts); counting from then, the 1,000-store peak offered
                # 2,255-2,903 of its 3,000 events/s
                at, n = heapq.heappop(due)
                touched[n] = touched.get(n, 0) + 1
                heapq.heappush(due, (at + rng.expovariate(rate), n))
            for n, count in touched.items():
                self.stores[n].emit(count)
                if measuring:
                    offered += count
            await asyncio.sleep(min(0.01, max(0.0, due[0][0] - time.monotonic())))
        lags, applied = self.lags or [], self.applied_in_window
        self.lags = None
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        # what was offered in the window and had its ack back within 2 s after it
        await asyncio.sleep(2.0)
        late = sum(max(0, len(s.events) - max(s.acked, first_seq[i]))
                   for i, s in enumerate(self.stores))
        return {"offered": offered, "offered_s": offered / seconds,
                "applied_s": applied / seconds, "unacked_2s_after": late,
                "lag": quantiles(lags), "seconds": seconds,
                # the simulator's own delay, in each lag above: past a few tens of ms its
                # process is saturated and the lags are its, not HQ's (docs/scale.md)
                "loop_stall": quantiles(stalls),
                "raw": {"lag": lags, "loop_stall": stalls}}

    def backlog(self, events: int) -> dict[str, Any]:
        for store in self.stores:
            store.emit(events)
        return {"backlog": events * len(self.stores)}

    async def drain(self, timeout_s: float = 600) -> dict[str, Any]:
        started = time.monotonic()
        self.first_ack = None
        done: dict[str, float] = {}
        pending = [s.acked for s in self.stores]
        total = sum(len(s.events) - s.acked for s in self.stores)
        while len(done) < len(self.stores):
            if time.monotonic() - started > timeout_s:
                break
            for n, store in enumerate(self.stores):
                if store.store not in done and store.acked >= len(store.events):
                    done[store.store] = max(0.0, store.last_ack_at - started) \
                        if store.acked > pending[n] else 0.0
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - started
        times = sorted(done.values())
        end = max(times) if times else seconds
        # HQ's apply rate: from the first ack to the last (reconnects before it not counted)
        first = (self.first_ack - started) if self.first_ack is not None else 0.0
        return {"events": total, "caught_up": len(done), "stores": len(self.stores),
                "seconds": end, "first_ack_s": first, "raw": {"per_store": times},
                "applied_s": total / max(end - first, 1e-9),
                **catch_up(times)}

    async def watch_change(self, kind: str, key: str, value: Any, timeout_s: float = 120
                           ) -> dict[str, Any]:
        seen: dict[str, float] = {}
        self.watch = (kind, key, value, seen, time.monotonic())
        _say({"watching": True})
        with contextlib.suppress(TimeoutError):
            await _until(lambda: len(seen) == len(self.stores), timeout_s)
        self.watch = None
        times = sorted(seen.values())
        return {"applied_by": len(seen), "stores": len(self.stores),
                "last_s": times[-1] if times else None, "per_store": quantiles(times),
                "raw": {"per_store": times}}

    async def stop(self) -> dict[str, Any]:
        await asyncio.gather(*(s.stop() for s in self.stores))
        keys = self.stores[0].counters.keys() if self.stores else ()
        return {k: sum(s.counters[k] for s in self.stores) for k in keys} | {
            "resends": sum(s.publisher.counters["resends"] for s in self.stores),
            "timeouts": sum(s.publisher.counters["timeouts"] for s in self.stores),
            "events": sum(len(s.events) for s in self.stores),
            "acked": sum(s.acked for s in self.stores)}


def quantiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    pick: Callable[[float], float] = lambda q: ordered[min(len(ordered) - 1,  # noqa: E731
                                                           int(q * len(ordered)))]
    return {"n": len(ordered), "p50": pick(0.5), "p99": pick(0.99), "max": ordered[-1]}


def catch_up(times: list[float]) -> dict[str, Any]:
    """A drain's per-store figures: the quantiles of each store's catch-up time, and the
    slowest store against the median (None when there is none to compare)."""
    middle = statistics.median(times) if times else 0.0
    return {"per_store": quantiles(times),
            "max_over_median": max(times) / middle if middle > 0 else None}


async def _watch_loop(stalls: list[float], every_s: float = 0.01) -> None:
    while True:
        asked = time.monotonic()
        await asyncio.sleep(every_s)
        stalls.append(max(0.0, time.monotonic() - asked - every_s))


async def _until(check: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.05)


def _say(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


async def _stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main(spec: dict[str, Any]) -> None:
    fleet = Fleet(spec["broker"], spec["stores"], spec.get("keepalive_s", 30),
                  spec.get("members", True), spec.get("fanout", "tenant"),
                  spec.get("linger_ms", LINGER_MS))
    for step in spec["steps"]:
        kind = step["do"]
        if kind == "connect":
            result = await fleet.connect(step.get("timeout_s", 120))
        elif kind == "load":
            result = await fleet.load(step["rate"], step["seconds"], step.get("warmup_s", 5))
        elif kind == "backlog":
            result = fleet.backlog(step["events"])
        elif kind == "drain":
            result = await fleet.drain(step.get("timeout_s", 600))
        elif kind == "watch":
            result = await fleet.watch_change(step["type"], step["key"], step["value"],
                                              step.get("timeout_s", 120))
        elif kind == "pause":
            _say({"pause": step["name"]})
            await _stdin_line()
            result = {}
        elif kind == "stop":
            result = await fleet.stop()
        else:
            raise ValueError(f"unknown step {kind!r}")
        _say({"step": kind, **({"name": step["name"]} if "name" in step else {}), **result})


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per store
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
