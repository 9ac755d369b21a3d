"""``common.heap.settle`` (what HQ's processes call once started): fewer collections while
parsing batches, cycles still collected. Each case runs in a process of its own: a frozen
heap and a changed threshold would outlive the test in this one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.helpers import ROOT


def _run(code: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


PARSE_BATCHES = """
    import gc, json
    from common import heap
    from sync.messages import parse_up
    from tests.cloud.sync.sim import EdgeSim

    sim = EdgeSim("s1")
    sim.fill(2_000)
    payloads = sim.payloads(200)
    if SETTLED:
        heap.settle()
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    runs = [0]
    gc.callbacks.append(lambda phase, info: runs.__setitem__(0, runs[0] + (phase == "start")))
    held = [parse_up(p, "s1") for p in payloads]  # held as a group is, until its commit
    print(json.dumps({"collections": runs[0], "young": threshold[0],
                      "older": list(threshold[1:]), "frozen": frozen,
                      "events": sum(len(m["events"]) for m in held)}))
"""


def test_a_settled_process_parses_batches_with_a_tenth_of_the_collections() -> None:
    default = _run(PARSE_BATCHES.replace("SETTLED", "False"))
    settled = _run(PARSE_BATCHES.replace("SETTLED", "True"))
    assert default["events"] == settled["events"] == 2_000
    assert (default["young"], default["frozen"]) == (700, 0)
    assert settled["young"] == 10_000 and settled["older"] == default["older"]
    assert settled["frozen"] > 10_000  # the modules, classes and the simulator's state
    assert default["collections"] >= 20
    assert settled["collections"] * 10 <= default["collections"]


def test_cycles_made_after_settling_are_still_collected() -> None:
    got = _run("""
        import json
        from common import heap

        heap.settle()
        freed = [0]

        class Node:
            def __del__(self) -> None:
                freed[0] += 1

        for _ in range(100_000):  # 100,000 cycles of two, never collected by hand
            a, b = Node(), Node()
            a.other, b.other = b, a
        print(json.dumps({"freed": freed[0]}))
    """)
    assert got["freed"] > 90_000
