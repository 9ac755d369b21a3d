"""Member lookup by phone at the till: p99 under 5 ms with 100k members cached at the store.

The members (each with a hashed phone, two ledger entries and a lease) are bulk-inserted
into the store's file before the daemon starts. Lookups go out on a fixed schedule (open
loop) over 1000 different members in several phone spellings; ``GET /api/v1/health`` on
the same daemon, measured the same way in the same run, is the baseline (and a bare aiohttp
handler on the same core shows what the machine allows at all).
"""

from __future__ import annotations

import base64
import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edge.members import rules
from edge.members.sql import KEY_FILE

from ..helpers import login, make_store
from .plumbing import bare_server, cpu_s, cpu_split, report, run_load, store_daemon

TARGET_P99_MS = 5.0
MEMBERS = 100_000
DISTINCT = 1000  # members looked up during the run
INTERVAL_S = 0.005  # 200 lookups/s on a fixed schedule
WARMUP_S, DURATION_S = 1.0, 10.0
ROUNDS = 3  # noise (other processes on the machine) only ever slows a round down


def phone(n: int) -> str:
    return f"+86139{n:08d}"


def fill_members(data_dir: Path, key: bytes, count: int) -> None:
    """``count`` members as HQ's feed would have left them (daemon not running)."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    conn = sqlite3.connect(data_dir / "storenode.db", isolation_level=None)
    try:
        conn.execute("BEGIN")
        ids = [f"01J{n:023d}" for n in range(count)]
        conn.executemany("INSERT INTO members(id, origin, name, created_at) VALUES (?,?,?,?)",
                         [(m, "hq", f"member {n}", at) for n, m in enumerate(ids)])
        conn.executemany(
            "INSERT INTO member_identities(idhash, kind, member, last4) VALUES (?,?,?,?)",
            [(rules.idhash(key, "phone", phone(n)), "phone", m, phone(n)[-4:])
             for n, m in enumerate(ids)])
        conn.executemany(
            "INSERT INTO ledger_entries(entry_id, member, account, kind, amount, store, at, hlc) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(f"E{n}{account[0]}", m, account, kind, 100 + n % 900, "hq", at, "0")
             for n, m in enumerate(ids)
             for account, kind in (("points", "earn"), ("value", "topup"))])
        conn.executemany(
            "INSERT INTO leases(lease_id, member, points, value, per_txn_points, per_txn_value, "
            "expires_at) VALUES (?,?,?,?,?,?,?)",
            [(f"L{n}", m, 100, 5000, 50, 2000, expires) for n, m in enumerate(ids)])
        conn.execute("COMMIT")
    finally:
        conn.close()


def lookup_urls(base: str, count: int) -> list[str]:
    spellings = (lambda p: p[3:], lambda p: "0086" + p[3:], lambda p: p,
                 lambda p: f"{p[3:6]} {p[6:10]} {p[10:]}")
    chosen = random.Random(4).sample(range(MEMBERS), count)
    return [f"{base}/api/v1/members/lookup?phone={quote(spellings[i % 4](phone(n)))}"
            for i, n in enumerate(chosen)]


def test_member_lookup_p99_with_100k_members(tmp_path: Path) -> None:
    server_cpus, load_cpus = cpu_split()
    data = make_store(tmp_path / "store", "bench-store")
    key = os.urandom(32)
    (data / KEY_FILE).write_text(base64.b64encode(key).decode() + "\n")
    os.chmod(data / KEY_FILE, 0o600)
    fill_members(data, key, MEMBERS)
    results: dict[str, dict[str, Any]] = {}
    with bare_server(server_cpus) as bare, store_daemon(data, server_cpus,
                                                         build=False) as daemon:
        token = login(daemon.url, "cashier")
        urls = {"bare": [f"{bare.url}/api/v1/health"], "health": [f"{daemon.url}/api/v1/health"],
                "lookup": lookup_urls(daemon.url, DISTINCT)}
        assert daemon.proc is not None
        pids = {"bare": bare.pid, "health": daemon.proc.pid, "lookup": daemon.proc.pid}
        for name in ("bare", "health", "lookup") * ROUNDS:  # interleaved; the best round counts
            cpu_before = cpu_s(pids[name])
            result = run_load({"url": urls[name][0], "urls": urls[name], "method": "GET",
                               "headers": {"Authorization": f"Bearer {token}"},
                               "cpus": load_cpus, "expect": [200], "mode": "open",
                               "interval_s": INTERVAL_S, "warmup_s": WARMUP_S,
                               "duration_s": DURATION_S, "key_prefix": name})
            assert not result["errors"], f"{name}: {result['errors']}"
            assert result["requests"] == result["sent"], result
            # server CPU over warm-up + run per measured request (an upper bound): what load
            # on the machine does not change, unlike the latency
            result["cpu_us"] = (cpu_s(pids[name]) - cpu_before) / result["requests"] * 1e6
            if name not in results or result["p99_ms"] < results[name]["p99_ms"]:
                results[name] = result
    lookup, health, bare_r = results["lookup"], results["health"], results["bare"]
    report(f"member lookup by phone, {MEMBERS} members (open loop, 200/s, "
           f"{DURATION_S:.0f} s after {WARMUP_S:.0f} s warm-up, best of {ROUNDS})", [
        ("server cpus / loadgen cpus", f"{server_cpus} / {load_cpus}"),
        *[(f"{name} ({r['requests']} requests)",
           f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  max {r['max_ms']:6.2f} ms  "
           f"server cpu <= {r['cpu_us']:4.0f} us/req")
          for name, r in (("bare aiohttp GET /health", bare_r), ("GET /api/v1/health", health),
                          ("GET /members/lookup", lookup))],
        ("RATIO lookup p99 / 5 ms target", f"{lookup['p99_ms'] / TARGET_P99_MS:.3f}  (target < 1)"),
        ("RATIO lookup p99 / health p99", f"{lookup['p99_ms'] / health['p99_ms']:.2f}"),
        ("RATIO lookup p99 / bare aiohttp p99", f"{lookup['p99_ms'] / bare_r['p99_ms']:.2f}"),
    ])
    assert lookup["p99_ms"] < TARGET_P99_MS, f"p99 {lookup['p99_ms']:.2f} ms"
