"""Browser tests: Debian's Chromium driven by Playwright against a real edge daemon, a real
HQ and a real Mosquitto (tests/system.py). Screenshots go to test-output/browser/ (ignored)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from edge.config import load_settings
from edge.tables.commands import add_table
from tests.helpers import ROOT, Daemon, login, make_store, request
from devtools.stack import ADMIN, Hq, edge_daemon, wait_until  # noqa: F401 (ADMIN: tests)

from .proxy import Blip

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "test-output" / "browser"
STORE = "s1"
PHONE = "13812345678"
TEMPLATE = {"kind": "amount_off", "value": 500, "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2099-01-01T00:00:00Z", "channels": ["pos"]}


@dataclass
class Stack:
    hq: Hq
    edge: Daemon
    proxy: Blip
    hq_token: str
    member: str = ""
    coupon: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    def edge_call(self, method: str, path: str, body: Any = None, role: str = "cashier",
                  key: bool = False) -> tuple[int, Any]:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if key else None
        return request(method, f"{self.edge.url}{path}", body, token=self.tokens[role],
                       headers=headers)

    def hq_call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return request(method, f"{self.hq.url}{path}", body, token=self.hq_token,
                       headers={"Idempotency-Key": uuid.uuid4().hex})

    def place(self, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        status, order = self.edge_call("POST", "/api/v1/orders",
                                       {"channel": "pos", "lines": lines, **extra}, key=True)
        assert status == 201, order
        return dict(order)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """HQ (child process) + its Mosquitto + the store ``s1`` daemon, with a member who holds
    a coupon, a few paired sales and HQ's "often bought together" pushed to the store."""
    work = tmp_path_factory.mktemp("browser")
    hq = Hq(work, [STORE])
    daemon = edge_daemon(work, hq, STORE)
    with (daemon.data_dir / "edge.toml").open("a") as toml:  # a pickup locker (fake board)
        toml.write('\n[lockers.main]\ntype = "fake"\ncompartments = 4\npoll_ms = 100\n')
    proxy: Blip | None = None
    try:
        hq.start_broker()
        hq.start()
        daemon.start()
        proxy = Blip(daemon.port)
        stack = Stack(hq, daemon, proxy, hq.token())
        stack.tokens = {role: login(daemon.url, role) for role in ("cashier", "manager", "kitchen")}
        _seed(stack)
        yield stack
    finally:
        if proxy is not None:
            proxy.close()
        daemon.stop()
        hq.stop_all()


def _seed(stack: Stack) -> None:
    status, body = stack.hq_call("PUT", "/api/v1/loyalty/rules", {"default": 1})
    assert status == 200, body
    wait_until(lambda: stack.edge_call("GET", f"/api/v1/members/lookup?phone={PHONE}")[0] == 404,
               what="the tenant key at the store")
    status, member = stack.edge_call("POST", "/api/v1/members", {"phone": PHONE, "name": "Li"},
                                     key=True)
    assert status == 201, member
    stack.member = member["id"]
    wait_until(lambda: stack.hq_call("GET", f"/api/v1/members/{stack.member}")[0] == 200,
               what="the member at HQ")
    for account, kind, amount in (("value", "topup", 10_000), ("points", "adjust", 1_000)):
        status, body = stack.hq_call("POST", f"/api/v1/members/{stack.member}/ledger",
                                     {"account": account, "kind": kind, "amount": amount})
        assert status == 201, body
    status, body = stack.hq_call("PUT", "/api/v1/coupons/templates/five-off", TEMPLATE)
    assert status == 200, body
    status, issued = stack.hq_call("POST", "/api/v1/coupons/issue",
                                   {"template_id": "five-off", "members": [stack.member]})
    assert status == 201, issued
    stack.coupon = issued["coupons"][0]["code"]

    def coupon_at_store() -> bool:
        status, found = stack.edge_call("GET", f"/api/v1/members/lookup?phone={PHONE}")
        return status == 200 and any(c["code"] == stack.coupon for c in found["coupons"])

    wait_until(coupon_at_store, what="the coupon at the store")
    status, body = stack.edge_call("POST", "/api/v1/inventory/movements",  # under safety: 20
                                   {"sku": "C009", "delta": -85, "reason": "waste"}, role="manager")
    assert status == 201, body
    for _ in range(3):  # soup dumplings go with soy milk
        stack.place([{"sku": "C011", "qty": 1}, {"sku": "C013", "qty": 1}])
    wait_until(lambda: _applied(stack) >= 3, what="the paired sales at HQ")
    status, body = request("POST", f"{stack.hq.url}/api/v1/recommendations/push?min_support=0.01"
                           "&min_confidence=0.01", token=stack.hq_token)
    assert status == 200, body

    def reco_at_store() -> bool:
        status, found = stack.edge_call("GET", "/api/v1/recommendations?skus=C011")
        return status == 200 and any(r["sku"] == "C013" for r in found["recommendations"])

    wait_until(reco_at_store, what="reco.pairs at the store")


def _applied(stack: Stack) -> int:
    status, orders = stack.hq_call("GET", f"/api/v1/stores/{STORE}/orders")
    return len(orders) if status == 200 else 0


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    out = OUTPUT / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    return out


class OwnHostOnly:
    """Every request a page makes, and the ones to a host other than the page's own."""

    def __init__(self, page: Any, origin: str) -> None:
        self.own = urlsplit(origin).netloc
        self.seen: list[str] = []
        self.foreign: list[str] = []
        page.on("request", self._record)
        page.on("websocket", lambda ws: self._record_url(ws.url))

    def _record(self, req: Any) -> None:
        self._record_url(req.url)

    def _record_url(self, url: str) -> None:
        self.seen.append(url)
        if urlsplit(url).netloc != self.own:
            self.foreign.append(url)

    def check(self) -> None:
        assert self.seen, "no request recorded"
        assert not self.foreign, f"requests to other hosts: {self.foreign}"


def open_page(browser: Any, url: str) -> tuple[Any, Any, OwnHostOnly]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    guard = OwnHostOnly(page, url)
    return context, page, guard


def staff_login(page: Any, staff: str, pin: str) -> None:
    page.fill("#login-form input[name=staff]", staff)
    page.fill("#login-form input[name=pin]", pin)
    page.click("#login-form button[type=submit]")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Daemon]:
    """A store with tables T2 and T4 and no HQ (the shop's LAN only)."""
    data_dir = make_store(tmp_path / "store", "s1")
    for table_id, seats in (("T2", 2), ("T4", 4)):
        add_table(load_settings(data_dir), table_id, table_id, seats, "hall")
    edge = Daemon(data_dir)
    try:
        edge.start()
        yield edge
    finally:
        edge.stop()
