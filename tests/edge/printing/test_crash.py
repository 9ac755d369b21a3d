"""``storenode run`` killed with SIGKILL while tickets are queued: after a restart every order
placed gets its kitchen ticket exactly once."""

from __future__ import annotations

import asyncio
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from drivers.printer import PrinterStatus
from drivers.printer.fake import FakeNetworkPrinter
from tests.helpers import Daemon, login, make_store, request

from .conftest import configure, network

ORDERS = 30


async def test_sigkill_mid_queue_loses_no_ticket(tmp_path: Path,
                                                 fake: FakeNetworkPrinter) -> None:
    store = configure(make_store(tmp_path / "store"), network("kitchen", fake.port,
                                                              stations=["wok"]))
    fake.status = PrinterStatus(paper_out=True)  # tickets queue up
    daemon = Daemon(store)
    try:
        await asyncio.to_thread(daemon.start)
        token = await asyncio.to_thread(login, daemon.url, "cashier")

        def place(n: int) -> int:
            status, body = request("POST", f"{daemon.url}/api/v1/orders",
                                   {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}]},
                                   token, headers={"Idempotency-Key": f"crash-{n:04}"})
            assert status == 201, body
            return int(body["number"])

        with ThreadPoolExecutor(8) as pool:
            numbers = await asyncio.to_thread(lambda: sorted(pool.map(place, range(ORDERS))))
        await asyncio.to_thread(daemon.kill, signal.SIGKILL)  # some jobs may not exist yet
        assert fake.received.count(b"\x1dV\x00") == 0
        fake.status = PrinterStatus()  # paper loaded while the daemon was down
        await asyncio.to_thread(daemon.start)
        await fake.wait_for(b"\x1dV\x00", ORDERS, timeout=30)
        printed = sorted(int(n) for n in re.findall(rb"\x1ba\x01#(\d+)\n", fake.received))
        assert printed == numbers == list(range(1, ORDERS + 1))  # each once, none lost
        await asyncio.sleep(0.3)
        assert fake.received.count(b"\x1dV\x00") == ORDERS  # and nothing more
        status, health = await asyncio.to_thread(request, "GET",
                                                 f"{daemon.url}/api/v1/health")
        assert health["printers"]["kitchen"]["printed"] == ORDERS
    finally:
        await asyncio.to_thread(daemon.stop)
