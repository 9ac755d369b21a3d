"""Presence HQ has not seen confirmed since its own (re)connect (issue 13.9): real Mosquitto
from the provisioned files, HQ as ``storenode-cloud run`` and the stores as ``storenode run``
child processes, with a 2 s keepalive.

A store that dies (SIGKILL) or freezes (SIGSTOP) while the broker is down has no Will: the
broker that would publish it is gone, and its retained birth still says online. HQ asks every
store to re-announce itself on each (re)connect (``{"rebirth": true}`` on the store's ``ack``
topic) and marks offline, pausing its platform channels as a death does, every store that has
not confirmed within 1.5 x its keepalive. A live store answers at once and stays online.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.helpers import Daemon
from devtools.stack import Hq, edge_env, edge_sync, hq_db, hq_store, make_edge, wait_until

KEEPALIVE_S = 2
WINDOW_S = 1.5 * KEEPALIVE_S
PAUSED = ["meituan", "eleme"]


def crash_broker(hq: Hq) -> None:
    """SIGKILL the broker once it has written its retained messages to disk (SIGUSR1 asks
    Mosquitto to save; SIGTERM would publish every client's Will on the way out)."""
    assert hq.broker is not None
    saved = hq.dir / "mosquitto" / "mosquitto.db"
    before = saved.stat().st_mtime_ns if saved.exists() else 0
    hq.broker.send_signal(signal.SIGUSR1)
    # written to mosquitto.db.new, then renamed: a new mtime is a complete file
    wait_until(lambda: saved.exists() and saved.stat().st_mtime_ns != before, 10, 0.02,
               "the broker saved its retained messages")
    hq.kill_broker(signal.SIGKILL)


def store_daemon(tmp_path: Path, hq: Hq, store: str) -> Daemon:
    return Daemon(make_edge(tmp_path, store), env=edge_env(hq, store, keepalive=KEEPALIVE_S))


def presence(hq: Hq, store: str) -> dict[str, Any]:
    db = hq_db(hq)
    try:
        found = db.get_store(store)
    finally:
        db.close()
    assert found is not None
    return found


def wait_online(hq: Hq, token: str, store: str, online: bool, timeout: float) -> float:
    """Seconds until HQ shows ``store`` online (or offline)."""
    started = time.monotonic()
    wait_until(lambda: hq_store(hq, token, store)["online"] is online, timeout, 0.05,
               f"{store} {'online' if online else 'offline'} at HQ")
    return time.monotonic() - started


@contextlib.contextmanager
def two_stores_online(tmp_path: Path) -> Iterator[tuple[Hq, Daemon, Daemon]]:
    """Broker, HQ and stores s1 and s2 up, both online at HQ; everything stopped on the way
    out (a frozen store thawed first: it cannot take SIGTERM)."""
    hq = Hq(tmp_path, ["s1", "s2"])
    stores = [store_daemon(tmp_path, hq, "s1"), store_daemon(tmp_path, hq, "s2")]
    try:
        hq.start_broker()
        hq.start()
        for daemon in stores:
            daemon.start()
        token = hq.token()
        for store in ("s1", "s2"):
            wait_online(hq, token, store, True, 20)
        yield hq, stores[0], stores[1]
    finally:
        for daemon in stores:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGCONT)
            daemon.stop()
        hq.stop_all()


def test_a_store_that_dies_while_broker_and_hq_are_down_goes_offline(tmp_path: Path) -> None:
    with two_stores_online(tmp_path) as (hq, s1, s2):
        hq.kill()  # HQ goes away ...
        crash_broker(hq)  # ... then the broker, which keeps the retained births
        s1.kill()  # a power cut at s1 while nobody can publish its Will
        hq.start_broker()
        wait_until(lambda: edge_sync(s2.url)["connected"], 30, 0.05, "s2 reconnected")
        hq.start()
        token = hq.token()
        # HQ got s1's retained birth again; s1 never confirms it
        took = wait_online(hq, token, "s1", False, WINDOW_S + 10)
        found = presence(hq, "s1")
        assert found["paused_channels"] == PAUSED, found  # like a death: channels paused
        print(f"s1 offline {took:.1f} s after HQ's restart")
        # s2's birth of its new connection was retained while HQ was down: it stays online,
        # nothing paused, because it answered HQ's rebirth request
        time.sleep(max(0.0, WINDOW_S + 1 - took))
        assert hq_store(hq, token, "s2")["online"]
        assert presence(hq, "s2")["paused_channels"] == []


def test_a_store_frozen_over_a_broker_restart_goes_offline_and_comes_back(
        tmp_path: Path) -> None:
    with two_stores_online(tmp_path) as (hq, s1, s2):
        token = hq.token()
        crash_broker(hq)
        assert s1.proc is not None
        s1.proc.send_signal(signal.SIGSTOP)  # frozen before it can reconnect
        hq.start_broker()
        took = wait_online(hq, token, "s1", False, WINDOW_S + 15)
        assert presence(hq, "s1")["paused_channels"] == PAUSED
        print(f"frozen s1 offline {took:.1f} s after the broker's restart")
        wait_until(lambda: edge_sync(s2.url)["connected"], 30, 0.05, "s2 reconnected")
        s1.proc.send_signal(signal.SIGCONT)  # it reconnects with a new birth
        wait_online(hq, token, "s1", True, 30)
        assert presence(hq, "s1")["paused_channels"] == []

        # HQ restarts with both stores alive: both answer its rebirth request in time
        before = {s: presence(hq, s)["last_birth"] for s in ("s1", "s2")}
        hq.kill()
        hq.start()
        token = hq.token()
        wait_until(lambda: all(presence(hq, s)["last_birth"] != before[s] for s in before),
                   10, 0.05, "both stores re-announced themselves")
        time.sleep(WINDOW_S + 1)
        for store in ("s1", "s2"):
            assert hq_store(hq, token, store)["online"], store
            assert presence(hq, store)["paused_channels"] == [], store
