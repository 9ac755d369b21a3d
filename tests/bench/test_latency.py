"""Target 2: p99 order create latency under 25 ms at a steady 200 orders/s (open loop)."""

from __future__ import annotations

from pathlib import Path

from .plumbing import bare_server, cpu_split, load_spec, manager_token, report, run_load, store_daemon

TARGET_P99_MS = 25.0
INTERVAL_S = 0.005  # 200 requests/s on a fixed schedule
WARMUP_S, DURATION_S = 1.0, 10.0


def test_order_create_p99_latency_at_200_per_second(tmp_path: Path) -> None:
    server_cpus, load_cpus = cpu_split()
    results = {}
    with bare_server(server_cpus) as bare, store_daemon(tmp_path / "store",
                                                         server_cpus) as daemon:
        token = manager_token(daemon)
        for name, url, tok in (("bare", bare.url, None), ("store", daemon.url, token)):
            result = run_load(load_spec(url, tok, load_cpus, mode="open", interval_s=INTERVAL_S,
                                        warmup_s=WARMUP_S, duration_s=DURATION_S,
                                        key_prefix=f"lat-{name}"))
            assert not result["errors"], f"{name}: {result['errors']}"
            assert result["requests"] == result["sent"], result
            results[name] = result
    store, bare_r = results["store"], results["bare"]
    ratio = store["p99_ms"] / TARGET_P99_MS
    report("order create latency at 200/s (open loop, 5 ms schedule, 10 s after 1 s warm-up)", [
        ("server cpus / loadgen cpus", f"{server_cpus} / {load_cpus}"),
        *[(f"{name} ({r['requests']} requests)",
           f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  max {r['max_ms']:6.2f} ms  "
           f"(loadgen cpu {r['client_cpu']:.0%})")
          for name, r in (("bare baseline", bare_r), ("store", store))],
        ("RATIO store p99 / 25 ms target", f"{ratio:.3f}  (target < 1)"),
        ("RATIO store p99 / bare p99", f"{store['p99_ms'] / bare_r['p99_ms']:.2f}"),
    ])
    assert store["p99_ms"] < TARGET_P99_MS, f"p99 {store['p99_ms']:.1f} ms"
