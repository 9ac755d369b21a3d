"""The guest's order path (table QR, ``POST /api/v1/guest/{token}/orders``) against the staff
order create in the same run: target >= 0.8 of its throughput. Also the guest page's bytes."""

from __future__ import annotations

import gzip
import urllib.request
from pathlib import Path

from edge.config import load_settings
from edge.tables import commands, sql
from tests.helpers import make_store

from .plumbing import (ORDER, cpu_s, cpu_split, load_spec, manager_token, report, run_load,
                       store_daemon)

TARGET_RATIO = 0.80
CLIENTS = 32
TABLES = 1000  # orders spread over the floor, as guests do: each table keeps its own limits
WARMUP_S, DURATION_S = 1.0, 5.0
ROUNDS = 3
PAGE_BUDGET = 150 * 1024


def _floor(data_dir: Path) -> list[str]:
    """A store with TABLES tables and guest limits raised to their maximum; the tokens."""
    make_store(data_dir, "bench-store")
    with (data_dir / "edge.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[guest]\nmax_orders_per_min = 600\nmax_open_orders = 100\n")
    settings = load_settings(data_dir)
    commands.run_job(settings, lambda tx: [sql.add_table(tx, f"T{n}", f"T{n}", 4, "hall")
                                          for n in range(TABLES)])
    return [t["token"] for t in commands.list_tables(settings)]


def test_guest_order_throughput_against_staff(tmp_path: Path) -> None:
    server_cpus, load_cpus = cpu_split()
    data_dir = tmp_path / "store"
    tokens = _floor(data_dir)
    runs: dict[str, list[dict[str, float]]] = {"staff": [], "guest": []}
    with store_daemon(data_dir, server_cpus, build=False) as daemon:
        assert daemon.proc is not None
        token = manager_token(daemon)
        page = urllib.request.urlopen(urllib.request.Request(
            f"{daemon.url}/t/{tokens[0]}", headers={"Accept-Encoding": "gzip"})).read()
        guest_urls = [f"{daemon.url}/api/v1/guest/{t}/orders" for t in tokens]
        specs = {
            "staff": lambda n: load_spec(daemon.url, token, load_cpus, mode="closed",
                                         workers=CLIENTS, warmup_s=WARMUP_S,
                                         duration_s=DURATION_S, key_prefix=f"staff-{n}"),
            "guest": lambda n: load_spec(daemon.url, None, load_cpus, mode="closed",
                                         workers=CLIENTS, warmup_s=WARMUP_S,
                                         duration_s=DURATION_S, key_prefix=f"guest-{n}",
                                         urls=guest_urls, body={"lines": ORDER["lines"]}),
        }
        for n in range(ROUNDS):
            for name, spec in specs.items():
                cpu_before = cpu_s(daemon.proc.pid)
                result = run_load(spec(n))
                assert not result["errors"], f"{name}: {result['errors']}"
                result["cpu_us"] = (cpu_s(daemon.proc.pid) - cpu_before) / result["requests"] * 1e6
                runs[name].append(result)
    best = {name: max(r["rps"] for r in results) for name, results in runs.items()}
    ratio = best["guest"] / best["staff"]
    raw = len(gzip.decompress(page))
    report(f"guest order path vs staff order create, {CLIENTS} clients over {TABLES} tables "
           f"(closed loop, {DURATION_S:.0f} s after {WARMUP_S:.0f} s warm-up, best of {ROUNDS})", [
        ("server cpus / loadgen cpus", f"{server_cpus} / {load_cpus}"),
        *[(f"{name} round {i + 1}",
           f"{r['rps']:7.0f} req/s  server cpu <= {r['cpu_us']:4.0f} us/req")
          for name, results in runs.items() for i, r in enumerate(results)],
        ("best staff / best guest", f"{best['staff']:.0f} / {best['guest']:.0f} req/s"),
        ("RATIO guest/staff", f"{ratio:.3f}  (target >= {TARGET_RATIO:.2f})"),
        ("guest page /t/{token}", f"{raw} bytes, {len(page)} gzipped (budget {PAGE_BUDGET})"),
    ])
    assert len(page) <= PAGE_BUDGET
    assert ratio >= TARGET_RATIO, f"guest {best['guest']:.0f}/s is {ratio:.1%} of staff"
