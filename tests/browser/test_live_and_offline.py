"""The kitchen display in a real browser: a new order shows within 300 ms p99 of its
creation, and after a network blip it resumes with ?after=<seq> and misses nothing. The POS
page, when the daemon is unreachable, says so and never shows an unsaved order as saved; its
retry uses the same Idempotency-Key, so it never makes two orders."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from tests.helpers import STAFF, request

from .conftest import Stack, open_page, staff_login

ORDERS = 30
P99_MS = 300

PLACE_AND_WATCH = """async ([token, n]) => {
  const seen = {};
  const observer = new MutationObserver(() => {
    for (const t of document.querySelectorAll('.ticket')) if (!(t.dataset.id in seen)) seen[t.dataset.id] = performance.now();
  });
  observer.observe(document.getElementById('tickets'), {childList: true, subtree: true});
  const took = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const resp = await fetch('/api/v1/orders', {method: 'POST', headers: {
      'Content-Type': 'application/json', Authorization: 'Bearer ' + token,
      'Idempotency-Key': crypto.randomUUID()}, body: JSON.stringify({channel: 'pos', lines: [{sku: 'C004', qty: 1}]})});
    if (resp.status !== 201) throw new Error('order: ' + resp.status);
    const order = await resp.json();
    while (!(order.id in seen)) {
      if (performance.now() - started > 5000) throw new Error('ticket never shown: ' + order.number);
      await new Promise((r) => setTimeout(r, 2));
    }
    took.push(seen[order.id] - started);
  }
  observer.disconnect();
  return took;
}"""


def test_kitchen_shows_new_orders_fast_and_resumes_after_a_blip(
        stack: Stack, browser: Any, shots: Path) -> None:
    url = stack.proxy.url + "/kitchen"
    context, page, guard = open_page(browser, url)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(url)
    staff_login(page, "kitchen", STAFF["kitchen"])
    page.wait_for_selector(".live.up")
    took = page.evaluate(PLACE_AND_WATCH, [stack.tokens["cashier"], ORDERS])
    took.sort()
    p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
    print(f"kitchen display: {ORDERS} orders, median {statistics.median(took):.1f} ms, "
          f"p99 {p99:.1f} ms, max {took[-1]:.1f} ms (POST sent -> ticket in the DOM)")
    assert p99 < P99_MS, took

    stack.proxy.cut()  # the tablet's Wi-Fi drops; the store keeps selling
    page.wait_for_selector(".live.down")
    missed = [stack.place([{"sku": "C003", "qty": 1}]) for _ in range(3)]
    page.wait_for_timeout(600)  # at least one failed reconnect attempt
    stack.proxy.restore()
    for order in missed:
        page.wait_for_selector(f".ticket[data-id='{order['id']}']", timeout=10_000)
    page.wait_for_selector(".live.up")
    assert "after=" not in sockets[0] and any("after=" in s for s in sockets[1:]), sockets
    page.screenshot(path=str(shots / "kitchen-after-blip.png"), full_page=True)
    # bump everything this test made out of the way of the other tests
    for order in stack.edge_call("GET", "/api/v1/orders?status=placed&limit=1000")[1]:
        stack.edge_call("POST", f"/api/v1/orders/{order['id']}/transitions", {"to": "cancelled"},
                        role="manager")
    guard.check()
    context.close()


def test_pos_offline_says_so_and_a_retry_never_makes_two_orders(
        stack: Stack, browser: Any, shots: Path) -> None:
    url = stack.proxy.url + "/"
    context, page, guard = open_page(browser, url)
    page.goto(url)
    staff_login(page, "cashier", STAFF["cashier"])
    page.click("#items .item[data-sku=C002]")
    before = _count(stack)
    stack.proxy.cut()
    page.click("#place")
    page.wait_for_selector("#result.error")
    assert "saved" not in page.inner_text("#result") and "已保存" not in page.inner_text("#result")
    assert page.get_attribute("#net", "data-up") == "0" and page.inner_text("#net")
    page.screenshot(path=str(shots / "pos-offline.png"), full_page=True)
    assert _count(stack) == before
    stack.proxy.restore()
    page.click("#place")  # the retry carries the same key
    page.wait_for_selector("#result.ok")
    assert _count(stack) == before + 1
    assert page.get_attribute("#net", "data-up") == "1"

    # the payment too: unreachable, it says so; the retry records it once
    placed = stack.edge_call("GET", "/api/v1/orders?limit=1")[1][0]
    page.fill("#t-cash", "20")
    stack.proxy.cut()
    page.click("#settle")
    page.wait_for_selector("#pay-result.error")
    assert "不会重复扣款" in page.inner_text("#pay-result")
    stack.proxy.restore()
    page.click("#settle")
    page.wait_for_selector("#pay-result.ok")
    status, again = stack.edge_call("POST", f"/api/v1/orders/{placed['id']}/payment",
                                    {"tenders": [{"kind": "cash", "amount_cents": 1800}]},
                                    key=True)
    assert (status, again["error"]) == (409, "already_paid")
    assert "¥2.00" in page.inner_text("#receipt")  # change from ¥20 for ¥18

    # the request reached the server but its answer was lost: the retry is answered 200 with
    # the same order, never a second one
    page.click("#next")
    page.click("#items .item[data-sku=C002]")
    page.click("#lines li[data-sku=C002] .plus")
    key = page.evaluate("() => { state.orderKey = SN.newKey(); return state.orderKey; }")
    body = {"channel": "pos", "lines": [{"sku": "C002", "qty": 2}]}
    status, first = request("POST", f"{stack.edge.url}/api/v1/orders", body,
                            token=stack.tokens["cashier"], headers={"Idempotency-Key": key})
    assert status == 201, first
    page.click("#place")
    page.wait_for_selector("#result.ok")
    assert f"#{first['number']}" in page.inner_text("#result")
    assert _count(stack) == before + 2
    guard.check()
    context.close()


def _count(stack: Stack) -> int:
    return len(stack.edge_call("GET", "/api/v1/orders?limit=1000")[1])

