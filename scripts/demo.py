"""Two-store demo: HQ converges after a store is cut off and restored (`make demo`).

Everything is real and local: a Mosquitto started from the files `storenode-cloud` wrote,
`storenode-cloud run` (HQ, SQLite), two `storenode run` edges. Store s2 reaches the broker
through a TCP proxy, so "cut off" is a dead line, as when a shop loses its internet.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.chaos import ChaosProxy  # noqa: E402
from devtools.helpers import login, request  # noqa: E402
from devtools.stack import Hq, edge_daemon, wait_until  # noqa: E402

WORK = ROOT / "var" / "demo"


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def sell(url: str, token: str, n: int, tag: str) -> int:
    ok = 0
    for i in range(n):
        status, _ = request("POST", f"{url}/api/v1/orders", {
            "channel": "pos", "lines": [{"sku": ("C003", "S001", "C004")[i % 3], "qty": 1}]},
            token, headers={"Idempotency-Key": f"demo-{tag}-{i:05d}"})
        ok += status == 201
    return ok


def table(hq: Hq, token: str) -> None:
    _, stores = request("GET", f"{hq.url}/api/v1/stores", token=token)
    print(f"   {'store':6} {'online':7} {'applied_seq':>11} {'lag_s':>7}")
    for s in stores:
        lag = "-" if s["lag_s"] is None else f"{s['lag_s']:.1f}"
        print(f"   {s['store']:6} {str(s['online']):7} {s['applied_seq']:>11} {lag:>7}")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    hq = Hq(WORK, ["s1", "s2"])
    say(f"HQ provisioned in {hq.dir}: stores s1, s2 (broker users = store ids)")
    hq.start_broker()
    hq.start()
    token = hq.token()
    with ChaosProxy(hq.broker_port) as line:
        s1, s2 = edge_daemon(WORK, hq, "s1"), edge_daemon(WORK, hq, "s2", line.url)
        try:
            s1.start()
            s2.start()
            t1, t2 = login(s1.url), login(s2.url)
            say(f"edges up: s1 {s1.url}  s2 {s2.url} (via a proxy we can cut); HQ {hq.url}")
            print(f"   sold {sell(s1.url, t1, 20, 's1a')} at s1, {sell(s2.url, t2, 20, 's2a')} at s2")
            wait_until(lambda: _synced(hq, token, s1.url, "s1") and _synced(hq, token, s2.url,
                                                                                  "s2"), 30)
            table(hq, token)

            say("s2 loses its internet (the line goes dead)")
            line.refuse = True
            line.cut()
            wait_until(lambda: not _store(hq, token, "s2")["online"], 30)
            print(f"   HQ sees s2 offline; s2 keeps selling: {sell(s2.url, t2, 30, 's2b')} orders")
            status, _ = request("PUT", f"{hq.url}/api/v1/catalog/items/C003", {
                "name": "番茄牛腩面", "category": "noodle", "station": "noodle",
                "price_cents": 2400}, hq.token())
            print(f"   HQ raises C003 to ¥24.00 for every store (HTTP {status})")
            _, health = request("GET", f"{s2.url}/api/v1/health")
            print(f"   s2 outbox: {health['sync']['pending']} events waiting")
            table(hq, token)

            say("s2's line comes back")
            line.refuse = False
            started = time.monotonic()
            wait_until(lambda: _synced(hq, token, s2.url, "s2"), 60)
            print(f"   converged in {time.monotonic() - started:.1f} s")
            table(hq, token)
            _, local = request("GET", f"{s2.url}/api/v1/orders?limit=1000", token=t2)
            _, remote = request("GET", f"{hq.url}/api/v1/stores/s2/orders?limit=1000",
                                token=token)
            _, item = request("GET", f"{s2.url}/api/v1/catalog/items/C003", token=t2)
            print(f"   s2 orders: {len(local)} at the store, {len(remote)} at HQ, "
                  f"same ids: {sorted(o['id'] for o in local) == sorted(o['id'] for o in remote)}")
            print(f"   s2's C003 price now {item['price_cents'] / 100:.2f} (from HQ's change)")
        finally:
            s1.stop()
            s2.stop()
            hq.stop_all()
    say(f"done; logs under {WORK}")


def _store(hq: Hq, token: str, store: str) -> dict[str, object]:
    _, stores = request("GET", f"{hq.url}/api/v1/stores", token=token)
    return next(s for s in stores if s["store"] == store)


def _synced(hq: Hq, token: str, url: str, store: str) -> bool:
    _, health = request("GET", f"{url}/api/v1/health")
    row = _store(hq, token, store)
    return bool(row["online"] and health["sync"]["pending"] == 0
                and row["applied_seq"] == health["sync"]["last_seq"])


if __name__ == "__main__":
    main()
