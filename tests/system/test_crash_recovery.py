"""SIGKILL in the middle of a load of order creates loses no acknowledged order.

One store directory; ROUNDS times: start the daemon, run concurrent order creates
(each with its own Idempotency-Key), kill -9 the daemon at a random moment, restart
it and check: every order answered 201 is there with its lines, requests whose
answer was lost resolve on retry with the same key (200 or 201, never a second
order), the outbox seq is exactly 1..N with meta ``outbox_last_seq`` == N,
``integrity_check`` is ok and stock on hand equals the sum of its movements.

Reproduce a run with ``CRASH_SEED=<seed printed on failure>``.
"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge.db.database import db_path
from tests.helpers import Daemon, login, make_store, request
from tests.invariants import check_database

ROUNDS = 20
WORKERS = 8
SKUS = ("C001", "C002", "C003", "C004", "C005", "C006")
EXTRA_STOCK = 200_000
CHANNELS = ("pos", "waiter", "dine_in_qr", "phone")
CONNECTION_LOST = (OSError, http.client.HTTPException, ValueError)

pytestmark = pytest.mark.slow


@dataclass
class Ledger:
    """What the clients know: answers received, and keys whose answer was lost."""

    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> order body
    round_acked: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unexpected: list[tuple[int, Any]] = field(default_factory=list)
    retried: dict[int, int] = field(default_factory=lambda: {200: 0, 201: 0})
    lock: threading.Lock = field(default_factory=threading.Lock)


def random_order(rng: random.Random) -> dict[str, Any]:
    skus = rng.sample(SKUS, rng.randint(1, 3))
    lines: list[dict[str, Any]] = [{"sku": s, "qty": rng.randint(1, 3)} for s in skus]
    if rng.random() < 0.3:
        lines[0]["note"] = "少辣"
    return {"channel": rng.choice(CHANNELS), "lines": lines}


def post_order(url: str, token: str, key: str, body: dict[str, Any]) -> tuple[int, Any]:
    return request("POST", f"{url}/api/v1/orders", body, token,
                   {"Idempotency-Key": key}, timeout=15)


def load(url: str, token: str, ledger: Ledger, seed: int, stop: threading.Event) -> None:
    """Create orders back to back until the daemon dies or ``stop`` is set."""
    rng = random.Random(seed)
    while not stop.is_set():
        key, body = f"crash-{uuid.UUID(int=rng.getrandbits(128)).hex}", random_order(rng)
        with ledger.lock:
            ledger.bodies[key] = body
        try:
            status, answer = post_order(url, token, key, body)
        except CONNECTION_LOST:
            with ledger.lock:
                ledger.lost.append(key)
            return
        with ledger.lock:
            if status == 201:
                ledger.acked[key] = answer
                ledger.round_acked.append(key)
            else:
                ledger.unexpected.append((status, answer))
                return


def run_round_and_kill(daemon: Daemon, token: str, ledger: Ledger, rng: random.Random) -> None:
    stop = threading.Event()
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="crash-load") as pool:
        futures = [pool.submit(load, daemon.url, token, ledger, rng.getrandbits(64), stop)
                   for _ in range(WORKERS)]
        time.sleep(rng.uniform(0.05, 0.4))
        daemon.kill()  # SIGKILL
        stop.set()
        for f in futures:
            f.result(timeout=30)


def verify_after_restart(url: str, token: str, ledger: Ledger) -> None:
    """Acked orders are readable as answered; lost answers resolve to exactly one order."""
    keys, ledger.round_acked = ledger.round_acked, []

    def check(key: str) -> None:
        order = ledger.acked[key]
        status, got = request("GET", f"{url}/api/v1/orders/{order['id']}", token=token)
        assert status == 200, f"order {order['id']} answered 201 is gone: {status} {got}"
        assert got == order, f"order {order['id']} differs after the crash"
        assert [(ln["sku"], ln["qty"]) for ln in got["lines"]] == [
            (ln["sku"], ln["qty"]) for ln in ledger.bodies[key]["lines"]]

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="crash-verify") as pool:
        list(pool.map(check, keys))
    known_ids = {o["id"] for o in ledger.acked.values()}
    for key in ledger.lost:
        status, answer = post_order(url, token, key, ledger.bodies[key])
        assert status in (200, 201), f"retry of lost key {key}: {status} {answer}"
        assert answer["id"] not in known_ids, f"retry of {key} returned another key's order"
        again_status, again = post_order(url, token, key, ledger.bodies[key])
        assert (again_status, again["id"]) == (200, answer["id"]), "key not idempotent"
        ledger.acked[key] = answer
        ledger.retried[status] += 1
        known_ids.add(answer["id"])
    ledger.lost = []


def test_sigkill_during_order_load_loses_no_acknowledged_order(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    store = make_store(tmp_path / "store")
    path = db_path(store)
    ledger = Ledger()
    daemon = Daemon(store)
    started, round_no = time.monotonic(), -1
    try:
        daemon.start()
        manager, token = login(daemon.url, "manager"), login(daemon.url, "cashier")
        for sku in SKUS:
            status, body = request("POST", f"{daemon.url}/api/v1/inventory/movements",
                                   {"sku": sku, "delta": EXTRA_STOCK, "reason": "receipt"},
                                   manager)
            assert status == 201, body
        seq_before = check_database(path)["last_seq"]
        for round_no in range(ROUNDS):
            run_round_and_kill(daemon, token, ledger, rng)
            assert not ledger.unexpected, f"unexpected answers {ledger.unexpected}"
            daemon = Daemon(store)
            daemon.start()
            verify_after_restart(daemon.url, token, ledger)
            state = check_database(path)
            assert state["last_seq"] >= seq_before, "the outbox seq went back"
            seq_before = state["last_seq"]
        daemon.stop()
        state = check_database(path)
        assert state["orders"] == len(ledger.acked), (
            f"{state['orders']} orders for {len(ledger.acked)} client keys")
        assert state["keys"] == {k: o["id"] for k, o in ledger.acked.items()}
    except BaseException as exc:
        exc.add_note(f"reproduce with CRASH_SEED={seed} (failed in round {round_no}); "
                     f"daemon log: {daemon.log}")
        raise
    finally:
        daemon.stop()
    assert len(ledger.acked) > ROUNDS * WORKERS, "the load made too few orders to mean much"
    print(f"crash recovery: seed {seed}, {len(ledger.acked)} orders, {ROUNDS} kills, "
          f"lost answers retried {ledger.retried}, {time.monotonic() - started:.1f}s")
