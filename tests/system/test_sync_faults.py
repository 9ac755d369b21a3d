"""Process-level faults on the sync path (issue 3): real Mosquitto from the provisioned files,
the edge as ``storenode run`` and HQ as ``storenode-cloud run`` child processes, killed with
SIGKILL, a broker killed and restarted or down for a whole offline day, and a TCP proxy that
delays, black-holes and cuts the edge's line in the middle of an up batch.

The oracle after every fault (:func:`check_oracle`): every order the edge answered 201 (a
request whose answer was lost to a kill is retried with its Idempotency-Key and counts with
the answer of the retry) is at HQ exactly once — in HQ's order list, and as exactly one
``order.placed`` event among HQ's events, which are seq 1..N with N the edge's last seq and
HQ's ``applied_seq`` — the edge has nothing pending, and HQ's inventory of the store equals
the edge's.

Reproduce a run with ``FAULT_SEED=<seed printed on failure>``.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.chaos import ChaosProxy
from tests.helpers import Daemon, login, request
from tests.pg import throwaway_database
from devtools.stack import Hq, edge_daemon, edge_sync, hq_db, hq_get, hq_store, wait_until

STORE = "s1"
SKUS = ("C001", "C002", "C003", "C004", "C005", "C006", "S001", "S002")
EXTRA_STOCK = 1_000_000
CONNECTION_LOST = (OSError, http.client.HTTPException, ValueError)
API_LIMIT = 1000  # GET /api/v1/stores/{s}/orders?limit= at most


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("FAULT_SEED", time.time_ns() % 2**32))
    print(f"reproduce with FAULT_SEED={value}")  # shown with a failure's captured output
    return value


def random_order(rng: random.Random) -> dict[str, Any]:
    skus = rng.sample(SKUS, rng.randint(1, 3))
    return {"channel": rng.choice(("pos", "waiter", "phone")),
            "lines": [{"sku": s, "qty": rng.randint(1, 3)} for s in skus]}


def post_order(url: str, token: str, key: str, body: dict[str, Any]) -> tuple[int, Any]:
    return request("POST", f"{url}/api/v1/orders", body, token, {"Idempotency-Key": key},
                   timeout=15)


class Load:
    """Client threads placing orders on the edge, and what the edge answered them."""

    def __init__(self, token: str, seed: int, workers: int = 3,
                 pause_s: tuple[float, float] | None = (0.01, 0.04)) -> None:
        self.token, self.workers, self.pause_s = token, workers, pause_s
        self.rng = random.Random(seed)
        self.bodies: dict[str, dict[str, Any]] = {}
        self.acked: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> the order answered
        self.lost: list[str] = []  # keys whose answer a kill swallowed
        self.unexpected: list[tuple[int, Any]] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, url: str, limit: int | None = None, workers: int | None = None,
              pause_s: tuple[float, float] | None | str = "default") -> None:
        """Start the clients; each stops at ``stop()``, a lost connection or after its share
        of ``limit`` orders. ``workers`` and ``pause_s`` override the defaults for this run."""
        self._stop.clear()
        count = workers or self.workers
        pause = self.pause_s if pause_s == "default" else pause_s
        share = None if limit is None else -(-limit // count)
        self._threads = [
            threading.Thread(target=self._work,
                             args=(url, self.rng.getrandbits(64), share, pause),
                             name=f"fault-load-{i}") for i in range(count)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self) -> None:
        """Wait for the clients to end; each was answered 201 or lost its connection."""
        for thread in self._threads:
            thread.join(60)
        assert not any(t.is_alive() for t in self._threads), "a client is stuck"
        self._threads = []
        assert not self.unexpected, f"unexpected answers: {self.unexpected[:5]}"

    def halt(self) -> None:
        """Stop and wait, checking nothing (cleaning up after a failure)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _work(self, url: str, seed: int, share: int | None,
              pause_s: tuple[float, float] | None) -> None:
        rng, placed = random.Random(seed), 0
        while not self._stop.is_set() and (share is None or placed < share):
            key, body = f"fault-{rng.getrandbits(64):016x}", random_order(rng)
            with self.lock:
                self.bodies[key] = body
            try:
                status, answer = post_order(url, self.token, key, body)
            except CONNECTION_LOST:
                with self.lock:
                    self.lost.append(key)
                return
            with self.lock:
                if status != 201:
                    self.unexpected.append((status, answer))
                    return
                self.acked[key] = answer
            placed += 1
            if pause_s:
                self._stop.wait(rng.uniform(*pause_s))

    def resolve_lost(self, url: str) -> None:
        """Retry the requests whose answer was lost: each is one order (200 or 201), once."""
        known = {o["id"] for o in self.acked.values()}
        for key in self.lost:
            status, answer = post_order(url, self.token, key, self.bodies[key])
            assert status in (200, 201), f"retry of {key}: {status} {answer}"
            assert answer["id"] not in known, f"retry of {key} answered another key's order"
            self.acked[key] = answer
            known.add(answer["id"])
        self.lost = []


def prepare_edge(daemon: Daemon) -> tuple[str, str]:
    """(manager token, cashier token); enough stock that no order is refused."""
    manager, cashier = login(daemon.url, "manager"), login(daemon.url, "cashier")
    for sku in SKUS:
        status, body = request("POST", f"{daemon.url}/api/v1/inventory/movements",
                               {"sku": sku, "delta": EXTRA_STOCK, "reason": "receipt"}, manager)
        assert status == 201, body
    return manager, cashier


def wait_synced(hq: Hq, edge_url: str, timeout: float = 60) -> dict[str, Any]:
    """The edge's sync state once it has nothing pending and HQ has applied all of it."""
    token = hq.token()

    def synced() -> dict[str, Any] | None:
        sync = edge_sync(edge_url)
        applied = hq_store(hq, token, STORE)["applied_seq"]
        done = sync["pending"] == 0 and sync["applied_seq"] == applied == sync["last_seq"]
        return sync if done else None

    return wait_until(synced, timeout, 0.2, "edge and HQ in sync")  # type: ignore[no-any-return]


def hq_applied(hq: Hq, token: str) -> int:
    return int(hq_store(hq, token, STORE)["applied_seq"])


def check_oracle(hq: Hq, edge_url: str, manager: str, load: Load,
                 timeout: float = 60) -> dict[str, Any]:
    sync = wait_synced(hq, edge_url, timeout)
    last_seq = sync["last_seq"]
    expected = {o["id"]: o for o in load.acked.values()}
    assert len(expected) == len(load.acked), "two keys answered with the same order"
    token = hq.token()

    # the HQ API: the newest orders (all of them when there are no more than the API's limit)
    listed = hq_get(hq, token, f"/api/v1/stores/{STORE}/orders?limit={API_LIMIT}")
    ids = [o["id"] for o in listed]
    assert len(ids) == len(set(ids)), "an order is listed twice at HQ"
    if len(expected) < API_LIMIT:
        assert set(ids) == set(expected), (
            f"missing at HQ: {sorted(set(expected) - set(ids))[:5]}, "
            f"unknown at HQ: {sorted(set(ids) - set(expected))[:5]}")
    else:
        assert len(ids) == API_LIMIT and set(ids) <= set(expected)
    for order in listed:
        answered = expected[order["id"]]
        assert (order["total_cents"], [(ln["sku"], ln["qty"]) for ln in order["lines"]]) == (
            answered["total_cents"], [(ln["sku"], ln["qty"]) for ln in answered["lines"]])

    # HQ's storage: events 1..last_seq once each, one order.placed per order answered
    db = hq_db(hq)
    try:
        seqs: list[int] = []
        placed: collections.Counter[str] = collections.Counter()
        while True:
            page = db.store_events(STORE, seqs[-1] if seqs else 0, 2000)
            if not page:
                break
            for event in page:
                seqs.append(event["seq"])
                if event["type"] == "order.placed":
                    placed[json.loads(event["data"])["order"]["id"]] += 1
        events = db.store_events_count(STORE)
        stored = {o["id"] for o in db.store_orders(STORE, None, len(expected) + 10)}
        applied = db.get_store(STORE)["applied_seq"]
    finally:
        db.close()
    assert applied == last_seq and events == last_seq, (
        f"HQ applied_seq {applied}, {events} events; edge last seq {last_seq}")
    assert seqs == list(range(1, last_seq + 1)), "HQ's events are not seq 1..N once each"
    twice = [i for i, n in placed.items() if n > 1]
    assert not twice, f"orders placed twice at HQ: {twice[:5]}"
    assert set(placed) == set(expected) == stored, (
        f"answered 201 but not at HQ: {sorted(set(expected) - stored)[:5]}")

    # inventory: HQ's sum of the store's deltas is the edge's stock
    status, local = request("GET", f"{edge_url}/api/v1/inventory", token=manager)
    assert status == 200, local
    remote = hq_get(hq, token, f"/api/v1/stores/{STORE}/inventory")
    assert {r["sku"]: r["on_hand"] for r in remote} == {r["sku"]: r["on_hand"] for r in local}
    return {"orders": len(expected), "last_seq": last_seq}


def assert_quiet_logs(hq: Hq, *edges: Daemon) -> None:
    """A fault on the line or a kill is routine: no process logs a traceback for it."""
    for log in {hq.dir / "hq.log", *(edge.log for edge in edges)}:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Traceback" in text:
            at = max(0, text.index("Traceback") - 300)
            raise AssertionError(f"{log} has a traceback:\n{text[at:at + 3000]}")


@contextlib.contextmanager
def running(hq: Hq, edges: list[Daemon], load: Load | None = None) -> Iterator[None]:
    """Stop the clients, every edge, HQ and the broker on the way out, whatever happened."""
    try:
        yield
    finally:
        try:
            if load is not None:
                load.halt()
        finally:
            for daemon in edges:
                daemon.stop()
            hq.stop_all()


def wait_connected(url: str, timeout: float = 20) -> None:
    wait_until(lambda: edge_sync(url)["connected"], timeout, 0.05, "edge connected")


def wait_progress(hq: Hq, token: str, events: int = 20, timeout: float = 20) -> None:
    """Until HQ has applied ``events`` more of the store's events: the sync is under way."""
    before = hq_applied(hq, token)
    wait_until(lambda: hq_applied(hq, token) > before + events, timeout, 0.02, "sync progress")


def start_online(tmp_path: Path, hq: Hq, edges: list[Daemon], load: Load,
                 broker_url: str | None = None) -> tuple[Daemon, str, str]:
    """Broker, HQ and a stocked edge up, the edge's broker at ``broker_url`` (default: the
    broker itself); (edge, HQ token, edge manager token), the load gets a cashier's token."""
    hq.start_broker()
    hq.start()
    edges.append(edge_daemon(tmp_path, hq, STORE, broker_url=broker_url))
    edges[-1].start()
    manager, load.token = prepare_edge(edges[-1])
    return edges[-1], hq.token(), manager


# -- 1. kill -9 of the edge during sync -------------------------------------------------------
EDGE_KILLS = 6


@pytest.mark.slow
def test_edge_sigkill_during_sync(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    hq = Hq(tmp_path, [STORE])
    edges: list[Daemon] = []
    load = Load("", rng.getrandbits(64), workers=4, pause_s=None)  # as fast as the edge goes
    started = time.monotonic()
    with running(hq, edges, load):
        _, token, manager = start_online(tmp_path, hq, edges, load)
        kills: list[tuple[str, int, int]] = []
        for round_no in range(EDGE_KILLS):
            edge = edges[-1]
            load.resolve_lost(edge.url)
            load.start(edge.url)
            if round_no % 2:  # while it (re)connects and resends what was not acked
                time.sleep(rng.uniform(0.0, 0.4))
                kind = "connecting"
            else:  # while it publishes and HQ applies
                wait_connected(edge.url)
                wait_progress(hq, token)
                time.sleep(rng.uniform(0.0, 0.5))
                kind = "publishing"
            sync = edge_sync(edge.url)
            edge.kill()
            kills.append((kind, sync["last_seq"], sync["applied_seq"]))
            load.join()
            edges.append(edge_daemon(tmp_path, hq, STORE))
            edges[-1].start()
        edge = edges[-1]
        load.resolve_lost(edge.url)
        load.start(edge.url, limit=30)
        load.join()
        found = check_oracle(hq, edge.url, manager, load)
        assert_quiet_logs(hq, *edges)
    assert any(last > acked for kind, last, acked in kills if kind == "publishing"), (
        f"no kill while publishing hit unacked events: {kills}")
    print(f"edge kills (when, last_seq, acked) {kills}: {found}, {time.monotonic() - started:.1f}s")


# -- 2. kill -9 of HQ while it drains a backlog (SQLite and PostgreSQL) -----------------------
@contextlib.contextmanager
def database(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
    else:
        with throwaway_database("storenode_test_faults") as url:
            yield url


BACKLOG = 4000  # orders the store sells while HQ is away: HQ applies ~5-10k events/s
# HQ applies what waits as one transaction of up to ingest.group_bytes (2 MB): the whole
# backlog in one or two commits, leaving no middle to kill it in. Small groups here: each
# kill lands between commits of the backlog, with more of it in flight.
SMALL_GROUPS = {"STORENODE_CLOUD_INGEST_GROUP_BYTES": "16384"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_hq_sigkill_during_apply(backend: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    started = time.monotonic()
    with database(backend) as url:
        hq = Hq(tmp_path, [STORE], url)
        edges = [edge_daemon(tmp_path, hq, STORE)]
        load = Load("", rng.getrandbits(64), workers=1, pause_s=(0.02, 0.1))
        with running(hq, edges, load):
            edges[0].start()  # no broker yet: the store sells offline
            manager, load.token = prepare_edge(edges[0])
            load.start(edges[0].url, limit=BACKLOG, workers=6, pause_s=None)
            load.join()
            backlog = edge_sync(edges[0].url)["last_seq"]
            edges[0].stop()
            hq.start_broker()
            hq.start(env=SMALL_GROUPS)
            # HQ drains ~10k events/s: watch its applied_seq in its database and kill it the
            # moment it passes a random point of the backlog (twice)
            marks = [int(backlog * rng.uniform(0.1, 0.35)), int(backlog * rng.uniform(0.55, 0.8))]
            db = hq_db(hq)
            kills: list[int] = []
            try:
                edges.append(edge_daemon(tmp_path, hq, STORE))
                edge = edges[-1]
                edge.start()  # connects at once and sends its backlog
                load.start(edge.url)  # and a trickle of new orders all along
                for mark in marks:
                    wait_until(lambda m=mark: db.get_store(STORE)["applied_seq"] >= m, 40,
                               0.002, f"HQ applying past seq {mark}")
                    hq.kill()  # SIGKILL in the middle of applying the backlog
                    kills.append(int(db.get_store(STORE)["applied_seq"]))
                    hq.start(env=SMALL_GROUPS)
            finally:
                db.close()
            load.stop()
            found = check_oracle(hq, edge.url, manager, load)
            assert_quiet_logs(hq, *edges)
    assert kills[0] < kills[1] < backlog, (
        f"HQ killed at applied_seq {kills}: not in the middle of a backlog of {backlog}")
    print(f"{backend}: HQ kills at applied_seq {kills} of a backlog of {backlog}: {found}, "
          f"{time.monotonic() - started:.1f}s")


# -- 3. the broker killed (SIGKILL) and restarted in the middle of the sync --------------------
@pytest.mark.slow
def test_broker_sigkill_and_restart_mid_sync(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    hq = Hq(tmp_path, [STORE])
    edges: list[Daemon] = []
    load = Load("", rng.getrandbits(64), workers=3, pause_s=(0.0, 0.01))
    started = time.monotonic()
    with running(hq, edges, load):
        edge, token, manager = start_online(tmp_path, hq, edges, load)
        load.start(edge.url)
        kills = []
        for _ in range(3):
            wait_connected(edge.url)
            wait_progress(hq, token)
            time.sleep(rng.uniform(0.0, 0.5))
            sync = edge_sync(edge.url)
            hq.kill_broker()  # SIGKILL: whatever it held in memory is gone
            kills.append((sync["last_seq"], sync["applied_seq"]))
            time.sleep(rng.uniform(0.2, 1.5))  # the store keeps selling meanwhile
            hq.start_broker()
        load.stop()
        found = check_oracle(hq, edge.url, manager, load)
        assert_quiet_logs(hq, *edges)
    assert any(last > applied for last, applied in kills), f"no kill hit unacked events {kills}"
    print(f"broker kills at (last_seq, acked) {kills}: {found}, {time.monotonic() - started:.1f}s")


# -- 4. the broker down for a whole offline period of 10k orders ---------------------------------
OFFLINE_ORDERS = 10_000


@pytest.mark.slow
def test_broker_down_for_10k_offline_orders_then_everything_drains(
        tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    hq = Hq(tmp_path, [STORE])
    edges = [edge_daemon(tmp_path, hq, STORE)]
    load = Load("", rng.getrandbits(64), workers=8, pause_s=None)
    started = time.monotonic()
    with running(hq, edges, load):
        hq.start()  # HQ runs, but no broker: it retries as the store does
        edge = edges[0]
        edge.start()
        manager, load.token = prepare_edge(edge)
        selling = time.monotonic()
        load.start(edge.url, limit=OFFLINE_ORDERS)
        load.join()
        sold_s = time.monotonic() - selling
        sync = edge_sync(edge.url)
        assert not sync["connected"] and sync["applied_seq"] == 0
        assert sync["pending"] == sync["last_seq"] >= OFFLINE_ORDERS
        assert len(load.acked) >= OFFLINE_ORDERS
        back = time.monotonic()
        hq.start_broker()
        found = check_oracle(hq, edge.url, manager, load, timeout=75)
        drained_s = time.monotonic() - back
        assert_quiet_logs(hq, *edges)
    print(f"{found['orders']} orders sold offline in {sold_s:.1f}s, drained and checked in "
          f"{drained_s:.1f}s; {time.monotonic() - started:.1f}s in all")


# -- 5. a misbehaving line between the edge and the broker ---------------------------------------
@pytest.mark.slow
def test_delays_blackholes_and_cuts_mid_batch(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    hq = Hq(tmp_path, [STORE])
    edges: list[Daemon] = []
    load = Load("", rng.getrandbits(64))
    started = time.monotonic()
    with ChaosProxy(hq.broker_port, seed=seed) as proxy, running(hq, edges, load):
        # HQ talks to the broker directly; only the store's line misbehaves
        edge, token, manager = start_online(tmp_path, hq, edges, load, broker_url=proxy.url)
        load.start(edge.url)
        cuts_mid_batch = 0
        for _ in range(2):
            # a slow line: every chunk waits 50..150 ms (acks too)
            wait_connected(edge.url)
            proxy.delay_s = 0.1
            wait_progress(hq, token)
            proxy.delay_s = 0.0
            # a silent line (no FIN, no RST): the keepalive finds out; a backlog builds up
            proxy.blackhole = True
            wait_until(lambda: not edge_sync(edge.url)["connected"], 15, 0.1, "edge offline")
            time.sleep(rng.uniform(0.0, 1.0))
            # the line comes back but dies after a few KiB up, in the middle of a batch of the
            # backlog (an event is ~0.8 KiB, a batch up to 200 events), on every connection,
            # until it is cleared
            assert edge_sync(edge.url)["pending"] >= 60, "no backlog to cut in the middle of"
            cuts = proxy.cuts
            proxy.cut_after_bytes = rng.randint(2_000, 40_000)
            proxy.blackhole = False
            proxy.cut()
            wait_until(lambda c=cuts: proxy.cuts >= c + 3, 20, 0.05, "cuts mid-batch")
            cuts_mid_batch += proxy.cuts - cuts - 1
            proxy.cut_after_bytes = None
        load.stop()
        found = check_oracle(hq, edge.url, manager, load)
        assert_quiet_logs(hq, *edges)
    print(f"{cuts_mid_batch} connections cut mid-batch: {found}, "
          f"{time.monotonic() - started:.1f}s")
