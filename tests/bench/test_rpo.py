"""RPO while online: what a box that dies at a random moment of a busy lunch takes with it,
read the way an operator reads it (health's ``sync.oldest_pending_s``, sampled every 50 ms
while a steady stream of orders is sold), against the 5-minute target of the seed; and, for
scale, the time to make one order in the same run (the floor of any RPO).

HQ (``storenode-cloud run``, SQLite) and its Mosquitto as processes, the edge daemon as a
process; the orders come from threads at a fixed rate.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from pathlib import Path

from devtools.helpers import Daemon, login, request
from devtools.stack import Hq, edge_env, make_edge

from .plumbing import report

RATE, SECONDS = 40, 15  # orders per second (a busy canteen's lunch is far less), how long
TARGET_S = 300.0


def test_rpo_while_selling_online(tmp_path: Path) -> None:
    system = Hq(tmp_path, ["s1"])
    system.start_broker()
    system.start()
    daemon = Daemon(make_edge(tmp_path, "s1"), env=edge_env(system, "s1"))
    try:
        daemon.start()
        token = login(daemon.url, "cashier")
        samples: list[float] = []
        made: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                status, health = request("GET", f"{daemon.url}/api/v1/health")
                if status == 200:
                    samples.append(health["sync"]["oldest_pending_s"] or 0.0)
                time.sleep(0.05)

        def sell() -> None:
            start = time.perf_counter()
            for n in range(RATE * SECONDS):
                wait = start + n / RATE - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                before = time.perf_counter()
                status, body = request("POST", f"{daemon.url}/api/v1/orders", {
                    "channel": "pos", "lines": [{"sku": "C001", "qty": 1}]}, token=token,
                    headers={"Idempotency-Key": uuid.uuid4().hex})
                assert status in (201, 409), body  # 409: sold out, also a commit-free answer
                made.append(time.perf_counter() - before)

        sampler = threading.Thread(target=sample)
        sampler.start()
        sell()
        stop.set()
        sampler.join()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, health = request("GET", f"{daemon.url}/api/v1/health")
            if health["sync"]["pending"] == 0:
                break
            time.sleep(0.1)
        assert health["sync"]["pending"] == 0
    finally:
        daemon.stop()
        system.stop_all()
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    order_p50 = statistics.median(made)
    report(f"RPO while selling online: {RATE} orders/s for {SECONDS} s, HQ and broker local", [
        ("health samples", f"{len(samples)} (every 50 ms)"),
        ("oldest_pending_s p50 / p99 / max",
         f"{statistics.median(samples):.1f} / {p99:.1f} / {samples[-1]:.1f} s"),
        ("one order (p50), the floor", f"{order_p50 * 1000:.1f} ms"),
        ("RATIO max RPO / target", f"{samples[-1] / TARGET_S:.4f}  (target {TARGET_S:.0f} s)"),
    ])
    assert samples[-1] <= TARGET_S
