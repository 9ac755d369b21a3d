"""Target 1: order create throughput, 32 concurrent clients, >= 40% of a bare aiohttp handler."""

from __future__ import annotations

from pathlib import Path

from .plumbing import (bare_server, cpu_s, cpu_split, load_spec, manager_token, report, run_load,
                       store_daemon)

TARGET_RATIO = 0.40
CLIENTS = 32
WARMUP_S, DURATION_S = 1.0, 5.0
ROUNDS = 3  # interleaved bare/store rounds; the best of each counts (noise only slows)


def test_order_create_throughput(tmp_path: Path) -> None:
    server_cpus, load_cpus = cpu_split()
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "store": []}
    with bare_server(server_cpus) as bare, store_daemon(tmp_path / "store",
                                                         server_cpus) as daemon:
        assert daemon.proc is not None
        token = manager_token(daemon)
        targets = {"bare": (bare.url, None, bare.pid), "store": (daemon.url, token, daemon.proc.pid)}
        for n in range(ROUNDS):
            for name, (url, tok, pid) in targets.items():
                cpu_before = cpu_s(pid)
                result = run_load(load_spec(url, tok, load_cpus, mode="closed", workers=CLIENTS,
                                            warmup_s=WARMUP_S, duration_s=DURATION_S,
                                            key_prefix=f"tp-{name}-{n}"))
                assert not result["errors"], f"{name}: {result['errors']}"
                # server CPU over warm-up + run, per request measured: an upper bound
                result["cpu_us"] = (cpu_s(pid) - cpu_before) / result["requests"] * 1e6
                runs[name].append(result)
    best = {name: max(r["rps"] for r in results) for name, results in runs.items()}
    ratio = best["store"] / best["bare"]
    report(f"order create throughput, {CLIENTS} clients (closed loop, {DURATION_S:.0f} s "
           f"after {WARMUP_S:.0f} s warm-up, best of {ROUNDS})", [
        ("server cpus / loadgen cpus", f"{server_cpus} / {load_cpus}"),
        *[(f"{name} round {i + 1}",
           f"{r['rps']:7.0f} req/s  server cpu <= {r['cpu_us']:4.0f} us/req  "
           f"loadgen cpu {r['client_cpu']:4.0%}")
          for name, results in runs.items() for i, r in enumerate(results)],
        ("best bare / best store", f"{best['bare']:.0f} / {best['store']:.0f} req/s"),
        ("RATIO store/bare", f"{ratio:.3f}  (target >= {TARGET_RATIO:.2f})"),
    ])
    assert ratio >= TARGET_RATIO, (
        f"store {best['store']:.0f}/s is {ratio:.1%} of bare {best['bare']:.0f}/s")
