"""Order create with 50 active time-window price rules against none, on one daemon in one run.

The rules (docs/pricing.md) are active all day, every day, on every channel: 40 name SKUs
(the benchmark order's three among them, so every line is priced by a rule) and 10 name
categories. After a discarded warm-up round, rounds alternate: no rules, then the 50 rules
put, then deleted again; the best round of each counts (noise on the machine only slows a
round down). The writer caches the
rules, so the ratio should stay near 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..helpers import request
from .plumbing import (SKUS, cpu_split, load_spec, manager_token, report, run_load,
                       store_daemon)

RULES = 50
TARGET_RATIO = 0.90  # order create with 50 rules / without
CLIENTS = 16
WARMUP_S, DURATION_S = 1.0, 4.0
ROUNDS = 3
CATEGORIES = ("hot", "rice", "noodle", "dish", "dim_sum", "snack", "drink", "soup", "set",
              "dessert")


def rules() -> dict[str, dict[str, Any]]:
    every_day = {"from": "00:00", "to": "24:00", "kind": "percent_off"}
    skus = [*SKUS, *(f"X{n:03d}" for n in range(RULES - len(CATEGORIES) - len(SKUS)))]
    found = {f"sku-{n:02d}": {**every_day, "skus": [sku], "value": 5 + n % 20}
             for n, sku in enumerate(skus)}
    found.update({f"cat-{c}": {**every_day, "categories": [c], "value": 10} for c in CATEGORIES})
    assert len(found) == RULES
    return found


def set_rules(url: str, token: str, on: bool) -> None:
    for rule_id, body in rules().items():
        status, answer = request("PUT" if on else "DELETE", f"{url}/api/v1/price-rules/{rule_id}",
                                 body if on else None, token)
        assert status in ((200, 201) if on else (200,)), answer


def test_order_create_with_50_price_rules(tmp_path: Path) -> None:
    server_cpus, load_cpus = cpu_split()
    runs: dict[str, list[float]] = {"none": [], "50 rules": []}
    with store_daemon(tmp_path / "store", server_cpus) as daemon:
        token, on = manager_token(daemon), False
        run_load(load_spec(daemon.url, token, load_cpus, mode="closed", workers=CLIENTS,
                           warmup_s=0, duration_s=DURATION_S, key_prefix="pr-warm"))  # discarded
        for n in range(ROUNDS):
            for name in runs:
                if on != (name != "none"):
                    on = not on
                    set_rules(daemon.url, token, on)
                result = run_load(load_spec(daemon.url, token, load_cpus, mode="closed",
                                            workers=CLIENTS, warmup_s=WARMUP_S,
                                            duration_s=DURATION_S, key_prefix=f"pr-{n}-{name[:2]}"))
                assert not result["errors"], f"{name}: {result['errors']}"
                runs[name].append(result["rps"])
        _, order = request("POST", f"{daemon.url}/api/v1/orders", load_spec(
            daemon.url, token, None)["body"], token, headers={"Idempotency-Key": "pr-check-1"})
    assert all(line.get("price_rule", "").startswith("sku-") for line in order["lines"]), order
    best = {name: max(rps) for name, rps in runs.items()}
    ratio = best["50 rules"] / best["none"]
    report(f"order create, {RULES} active price rules vs none ({CLIENTS} clients, closed loop, "
           f"{DURATION_S:.0f} s after {WARMUP_S:.0f} s warm-up, best of {ROUNDS})", [
        ("server cpus / loadgen cpus", f"{server_cpus} / {load_cpus}"),
        *[(f"{name} rounds", "  ".join(f"{r:6.0f}" for r in rps) + "  req/s")
          for name, rps in runs.items()],
        ("best none / best 50 rules", f"{best['none']:.0f} / {best['50 rules']:.0f} req/s"),
        ("RATIO 50 rules / none", f"{ratio:.3f}  (target >= {TARGET_RATIO:.2f})"),
    ])
    assert ratio >= TARGET_RATIO, f"50 rules: {ratio:.1%} of the throughput without"
