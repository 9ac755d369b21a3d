"""Target 3: daemon RSS under 80 MB after 100k orders created over HTTP."""

from __future__ import annotations

from pathlib import Path

from ..helpers import request
from .plumbing import cpu_split, load_spec, manager_token, report, rss_mb, run_load, store_daemon

TARGET_MB = 80.0
ORDERS = 100_000
CLIENTS = 32


def test_daemon_rss_after_100k_orders(tmp_path: Path) -> None:
    server_cpus, load_cpus = cpu_split()
    with store_daemon(tmp_path / "store", server_cpus) as daemon:
        assert daemon.proc is not None
        pid = daemon.proc.pid
        fresh = rss_mb(pid)
        token = manager_token(daemon)
        result = run_load(load_spec(daemon.url, token, load_cpus, mode="count", total=ORDERS,
                                    workers=CLIENTS, key_prefix="rss"), timeout=480)
        after = rss_mb(pid)
        status, health = request("GET", f"{daemon.url}/api/v1/health")
    assert not result["errors"], result["errors"]
    assert result["requests"] == ORDERS, result
    assert status == 200 and health["status"] == "ok", health
    report("daemon RSS after 100k orders over HTTP", [
        ("orders created", f"{result['requests']} in {result['elapsed_s']:.1f} s "
                           f"({result['rps']:.0f}/s, {CLIENTS} clients)"),
        ("outbox events pending", f"{health['sync']['pending']}"),
        ("RSS freshly started", f"{fresh:6.1f} MB"),
        ("RSS after 100k orders", f"{after:6.1f} MB"),
        ("RATIO RSS / 80 MB target", f"{after / TARGET_MB:.3f}  (target < 1)"),
        ("RATIO RSS / fresh RSS", f"{after / fresh:.2f}"),
    ])
    assert after < TARGET_MB, f"RSS {after:.1f} MB after {ORDERS} orders"
