"""The durable print queue through a real edge app and its HTTP API, printing to fake TCP
printers: per-station tickets, retries with backoff, paper out, fail-over to the backup, a
stalled printer that holds up no other station, reprint, jobs interrupted by a crash."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from common.config import ConfigError
from common.feedback import check_token
from drivers.printer import PrinterStatus
from drivers.printer.fake import FakeNetworkPrinter
from edge.config import load_settings
from edge.members import sql as member_store
from tests.conftest import login_as

from .conftest import AppFactory, cashier, coordinator, network, place

CUT = b"\x1dV\x00"
WOK = "麻辣香锅".encode("gb18030")
NOODLE = "番茄牛腩面".encode("gb18030")
TWO_STATIONS = {"channel": "dine_in_qr", "table": "B2",
                "lines": [{"sku": "C001", "qty": 1}, {"sku": "C003", "qty": 1}]}


def db_rows(store_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store_dir / "storenode.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def events(store_dir: Path, type_: str) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in db_rows(
        store_dir, "SELECT data FROM outbox WHERE type = ? ORDER BY seq", type_)]


def jobs(store_dir: Path, order_id: str) -> list[tuple[Any, ...]]:
    return db_rows(store_dir, "SELECT kind, station, printer, routed_to, state, attempts "
                              "FROM print_jobs WHERE order_id = ? ORDER BY id", order_id)


async def until(check: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_an_order_prints_a_ticket_per_station_and_a_receipt(
        edge_app: AppFactory, fake: FakeNetworkPrinter, fake2: FakeNetworkPrinter,
        store_dir: Path) -> None:
    client = await edge_app(network("wok", fake.port, stations=["wok"], receipts=True),
                            network("noodle", fake2.port, stations=["noodle"]))
    order = await place(await cashier(client), "print-0001", TWO_STATIONS)
    await fake.wait_for(CUT, 2)
    await fake2.wait_for(CUT, 1)
    assert WOK in fake.received and NOODLE not in fake.received.split(CUT)[0]
    assert NOODLE in fake2.received and "桌号 Table B2".encode("gb18030") in fake2.received
    receipt = fake.received.split(CUT)[1]  # the wok printer prints the receipts too
    assert "老王面馆".encode("gb18030") in receipt  # print.header
    assert b"1P0https://mp.example.com/test-store/o/1" in receipt  # print.qr_url, GS ( k
    await until(lambda: {j[4] for j in jobs(store_dir, order["id"])} == {"printed"})
    assert jobs(store_dir, order["id"]) == [
        ("kitchen", "noodle", "noodle", "noodle", "printed", 1),
        ("kitchen", "wok", "wok", "wok", "printed", 1),
        ("receipt", None, "wok", "wok", "printed", 1)]
    health = await (await client.get("/api/v1/health")).json()
    assert health["status"] == "ok" and health["printers"]["wok"]["state"] == "ok"
    assert health["printers"]["wok"]["printed"] == 2 and health["print_jobs"] == {}
    manager = await login_as(client, "manager")
    metrics = await (await client.get("/metrics", headers={
        "Authorization": f"Bearer {manager.token}"})).text()
    assert 'storenode_printer_up{printer="wok"} 1.0' in metrics
    assert 'storenode_print_jobs_printed_total{printer="noodle"} 1.0' in metrics


async def test_paper_out_is_a_state_and_an_alert_and_the_job_is_retried_with_backoff(
        edge_app: AppFactory, fake: FakeNetworkPrinter, store_dir: Path) -> None:
    fake.status = PrinterStatus(paper_out=True)
    client = await edge_app(network("kitchen", fake.port, stations=["wok"]))
    order = await place(await cashier(client), "print-0002")
    await until(lambda: coordinator(client).workers["kitchen"].state == "paper_out")
    started = time.monotonic()
    await asyncio.sleep(1.5)
    attempts = jobs(store_dir, order["id"])[0][5]
    # base 50 ms doubling up to 1 s: 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 1 ... about 6 tries
    assert 3 <= attempts <= 9, attempts
    assert fake.received == b""
    health = await (await client.get("/api/v1/health")).json()
    assert health["printers"]["kitchen"]["state"] == "paper_out"
    assert health["printers"]["kitchen"]["queued"] == 1 and health["print_jobs"] == {"queued": 1}
    alert = events(store_dir, "printer.state_changed")
    assert alert[0]["printer"] == "kitchen" and alert[0]["to"] == "paper_out" and alert[0]["alert"]
    fake.status = PrinterStatus()  # paper loaded
    await fake.wait_for(CUT)
    assert time.monotonic() - started < 5
    await until(lambda: jobs(store_dir, order["id"])[0][4] == "printed")
    assert fake.received.count(CUT) == 1
    back = events(store_dir, "printer.state_changed")[-1]
    assert (back["from"], back["to"], back["alert"]) == ("paper_out", "ok", False)


async def test_a_failed_printer_jobs_move_to_its_backup(
        edge_app: AppFactory, fake: FakeNetworkPrinter, fake2: FakeNetworkPrinter,
        store_dir: Path) -> None:
    fake.stall = True  # accepts, never answers: offline after failover_after (2) tries
    client = await edge_app(network("kitchen", fake.port, stations=["wok"], backup="front"),
                            network("front", fake2.port))
    api = await cashier(client)
    first = await place(api, "print-0003")
    await fake2.wait_for(WOK)  # the kitchen ticket came out at the front printer
    assert fake.received == b""
    assert jobs(store_dir, first["id"])[0][:4] == ("kitchen", "wok", "front", "kitchen")
    failover = events(store_dir, "print.failover")
    assert failover[0]["from"] == "kitchen" and failover[0]["to"] == "front"
    second = await place(api, "print-0004")  # while kitchen is down: straight to front
    await fake2.wait_for(WOK, 2)
    assert jobs(store_dir, second["id"])[0][2] == "front"
    fake.stall = False  # the kitchen printer is back: new tickets go to it again
    await until(lambda: coordinator(client).workers["kitchen"].printable)
    await place(api, "print-0005")
    await fake.wait_for(WOK)
    assert fake2.received.count(WOK) == 2


async def test_cover_open_fails_over_at_once(
        edge_app: AppFactory, fake: FakeNetworkPrinter, fake2: FakeNetworkPrinter) -> None:
    fake.status = PrinterStatus(cover_open=True)
    client = await edge_app(network("kitchen", fake.port, stations=["wok"], backup="front"),
                            network("front", fake2.port))
    await until(lambda: coordinator(client).workers["kitchen"].state == "cover_open")
    await place(await cashier(client), "print-0006")
    await fake2.wait_for(WOK)
    assert fake.received == b""


async def test_a_stalled_printer_does_not_block_another_station(
        edge_app: AppFactory, fake: FakeNetworkPrinter, fake2: FakeNetworkPrinter) -> None:
    fake.stall = True
    client = await edge_app(network("wok", fake.port, stations=["wok"], timeout_s=5),
                            network("noodle", fake2.port, stations=["noodle"]))
    api = await cashier(client)
    for n in range(3):
        await place(api, f"print-1{n:03}", TWO_STATIONS)
    started = time.monotonic()
    await fake2.wait_for(NOODLE, 3, timeout=3)  # well inside the wok printer's 5 s timeout
    assert time.monotonic() - started < 2
    assert fake.received == b"" and coordinator(client).workers["wok"].state != "offline"


async def test_a_printer_closing_mid_job_gets_the_whole_ticket_again(
        edge_app: AppFactory, fake: FakeNetworkPrinter, store_dir: Path) -> None:
    fake.close_after = 9 + 20  # the status queries, then 20 bytes of the ticket
    client = await edge_app(network("kitchen", fake.port, stations=["wok"]))
    order = await place(await cashier(client), "print-0007")
    await until(lambda: [j for j in jobs(store_dir, order["id"]) if j[5] >= 1])
    fake.close_after = None
    await fake.wait_for(CUT)
    assert fake.received.count(WOK) == 1  # 20 bytes of the first try, then one whole ticket
    await until(lambda: jobs(store_dir, order["id"])[0][4] == "printed")
    assert coordinator(client).workers["kitchen"].state == "ok"


async def test_reprint_by_order(edge_app: AppFactory, fake: FakeNetworkPrinter,
                                store_dir: Path) -> None:
    client = await edge_app(network("kitchen", fake.port, stations=["wok"], receipts=True))
    api = await cashier(client)
    order = await place(api, "print-0008")
    await fake.wait_for(CUT, 2)
    status, body = await api.post(f"/api/v1/orders/{order['id']}/reprint",
                                  {"kinds": ["kitchen"]})
    assert status == 201 and [j["kind"] for j in body["jobs"]] == ["kitchen", "receipt",
                                                                     "kitchen"]
    assert body["jobs"][-1]["reprint_by"] == "cashier"
    await fake.wait_for(CUT, 3)
    assert fake.received.count("重印 REPRINT".encode("gb18030")) == 1
    assert fake.received.count(WOK) == 3  # ticket, receipt, reprinted ticket
    reprint = events(store_dir, "print.reprint")
    assert reprint == [{"order_id": order["id"], "by": "cashier", "jobs": [3]}]
    kitchen = await login_as(client, "kitchen")
    assert (await kitchen.post(f"/api/v1/orders/{order['id']}/reprint", {}))[0] == 403
    assert (await api.post("/api/v1/orders/01JD0000000000000000000000/reprint", {}))[0] == 404
    status, body = await api.post(f"/api/v1/orders/{order['id']}/reprint",
                                  {"kinds": ["label"]})
    assert status == 409 and body["error"] == "nothing_to_print"
    assert (await api.post(f"/api/v1/orders/{order['id']}/reprint", {"kinds": []}))[0] == 422


async def test_no_printers_configured(client: Any) -> None:
    api = await login_as(client, "cashier")
    order = await place(api, "print-0009")
    status, body = await api.post(f"/api/v1/orders/{order['id']}/reprint", {})
    assert status == 409 and body["error"] == "printing_not_configured"
    health = await (await client.get("/api/v1/health")).json()
    assert health["printers"] == {} and health["print_jobs"] == {}


async def test_a_job_left_sending_by_a_crash_is_not_resent_until_someone_asks(
        edge_app: AppFactory, fake: FakeNetworkPrinter, store_dir: Path) -> None:
    client = await edge_app(network("kitchen", fake.port, stations=["wok"]))
    order = await place(await cashier(client), "print-0010")
    await fake.wait_for(CUT)
    await client.close()
    # as if the daemon died between writing "sending" and writing "printed"
    conn = sqlite3.connect(store_dir / "storenode.db")
    conn.execute("UPDATE print_jobs SET state = 'sending'")
    conn.commit()
    conn.close()
    client = await edge_app()
    await until(lambda: coordinator(client).interrupted == 1)
    assert jobs(store_dir, order["id"])[0][4] == "interrupted"
    assert events(store_dir, "print.interrupted")[0]["jobs"][0]["order_id"] == order["id"]
    health = await (await client.get("/api/v1/health")).json()
    assert health["print_jobs"] == {"interrupted": 1}
    await asyncio.sleep(0.3)
    assert fake.received.count(CUT) == 1  # not re-sent by itself
    status, _ = await (await cashier(client)).post(f"/api/v1/orders/{order['id']}/reprint", {})
    assert status == 201
    await fake.wait_for(CUT, 2)


async def test_a_backlog_goes_out_in_one_connection_and_a_break_mid_batch_resends_the_rest(
        edge_app: AppFactory, fake: FakeNetworkPrinter, store_dir: Path) -> None:
    fake.status = PrinterStatus(paper_out=True)
    client = await edge_app(network("kitchen", fake.port, stations=["wok"]))
    api = await cashier(client)
    orders = [await place(api, f"print-2{n:03}") for n in range(3)]
    await until(lambda: coordinator(client).workers["kitchen"].queued == 3)
    fake.close_after = 9 + 400  # the status queries, the first ticket, part of the second
    before = fake.connections
    fake.status = PrinterStatus()
    await fake.wait_for(CUT, 3)
    numbers = re.findall(rb"\x1ba\x01#(\d+)\n", fake.received)
    assert numbers == [b"1", b"2", b"2", b"3"]  # the broken-off second ticket, then again
    await until(lambda: all(jobs(store_dir, o["id"])[0][4] == "printed" for o in orders))
    # three tickets in two connections (the broken one, the rest in one), and perhaps a
    # paper-out try that was under way
    assert fake.connections - before <= 3


async def test_stalled_printers_do_not_take_the_daemons_threads(
        edge_app: AppFactory, fake: FakeNetworkPrinter) -> None:
    fake.stall = True  # eight printers that accept and never answer, 5 s timeouts
    client = await edge_app(*(network(f"p{n}", fake.port, stations=[f"s{n}"], timeout_s=5)
                              for n in range(8)))
    await until(lambda: fake.connections >= 8)  # every worker is blocked in a status check
    started = time.monotonic()
    api = await login_as(client, "cashier")  # PIN hashing runs in asyncio.to_thread
    await place(api, "print-3000")
    assert time.monotonic() - started < 2
    started = time.monotonic()
    await client.close()  # stop breaks off the blocked checks
    assert time.monotonic() - started < 3


async def test_the_receipt_qr_opens_the_orders_feedback_page(
        edge_app: AppFactory, fake: FakeNetworkPrinter, store_dir: Path) -> None:
    """``print.qr_url`` with ``{feedback}``: the receipt's QR carries the order's signed token,
    which the LAN feedback page (and HQ's) accepts; before the store has the tenant key
    there is no token, and the receipt goes without a QR rather than with a dead link."""
    with (store_dir / "edge.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[print]\nretry_base_ms = 50\n'
                 'qr_url = "http://192.168.1.10:8080/f/{feedback}"\n')
    client = await edge_app(network("front", fake.port, receipts=True))
    first = await place(await cashier(client), "print-fb-1", {"channel": "pos", "lines": [
        {"sku": "C001", "qty": 1}]})
    await fake.wait_for(CUT, 1)
    assert b"\x1d(k" not in fake.received and b"/f/" not in fake.received  # no key yet
    key = secrets.token_bytes(32)
    (store_dir / member_store.KEY_FILE).write_text(base64.b64encode(key).decode() + "\n")
    order = await place(await cashier(client), "print-fb-2", {"channel": "pos", "lines": [
        {"sku": "C001", "qty": 1}]})
    await fake.wait_for(CUT, 2)
    receipt = fake.received.split(CUT)[1]
    found = re.search(rb"1P0http://192\.168\.1\.10:8080/f/([^\x1d\n]+)", receipt)
    assert found is not None, receipt
    token = found[1].decode()
    assert check_token(key, token) == (order["id"], "test-store") != (first["id"], "test-store")
    assert token in order["feedback_url"]  # the same link the order's answer gives
    assert "扫码评价".encode("gb18030") in receipt
    page = await client.get(f"/f/{token}")
    assert page.status == 200
    status = await client.get(f"/api/v1/feedback/{token}")
    assert status.status == 200 and (await status.json())["order_id"] == order["id"]


def test_a_qr_url_with_an_unknown_placeholder_is_refused_at_start(store_dir: Path) -> None:
    for bad, message in (("https://x/{table}", "unknown placeholder {table}"),
                         ("https://x/{order.id}", "unknown placeholder"),
                         ("https://x/{feedback", "print.qr_url")):
        config = store_dir / "edge.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text + f'\n[print]\nqr_url = "{bad}"\n', encoding="utf-8")
        try:
            with pytest.raises(ConfigError, match=re.escape(message)):
                load_settings(store_dir)
        finally:
            config.write_text(text, encoding="utf-8")
