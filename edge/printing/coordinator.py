"""The print coordinator (an aiohttp ``cleanup_ctx``): order intents -> durable jobs -> workers.

``order.placed`` is written in the order's own transaction, so it is the durable print intent:
nothing is added to order create. The coordinator reads the outbox after its cursor, and in one
writer transaction inserts the jobs and moves the cursor (``printjobs.materialize``). Each
printer has its own worker (``worker.py``), so a dead printer never holds up another's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from common.errors import Conflict, NotFound
from drivers.printer import open_printer

from edge import keys
from edge.printing import jobs as printjobs
from edge.db.database import Database
from edge.orders.rows import fetch_order
from edge.db.stockcache import keeps_stock_cache
from edge.db.group_commit import Tx
from edge.printing.health import PrinterCollector
from edge.printing.routing import KINDS, jobs_for, route
from edge.printing.settings import PrintSettings
from edge.printing.worker import PrinterWorker

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH = 500  # outbox rows read at a time
CURSOR_SLACK = 10_000  # events without an order the durable cursor may lag behind
ORDERS_KEPT = 1000  # orders remembered from their events, so workers need not read them


class PrintCoordinator:
    def __init__(self, db: Database, settings: PrintSettings, store_id: str,
                 tz: ZoneInfo) -> None:
        self.db, self.settings, self.store_id, self.tz = db, settings, store_id, tz
        self.workers = {name: PrinterWorker(self, cfg, open_printer(cfg))
                        for name, cfg in settings.printers.items()}
        self.orders: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.stopping = False
        self.interrupted = 0  # jobs found "sending" at start-up
        self._stop = asyncio.Event()
        self._new_events = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # a thread per printer for its blocking I/O: stalled printers never take the threads
        # the rest of the daemon runs asyncio.to_thread work on (PIN hashing, ...)
        self._threads = ThreadPoolExecutor(max(1, len(self.workers)),
                                           thread_name_prefix="storenode-printer")
        self.cursor = self.durable = 0

    # -- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        jobs = await self.db.write(printjobs.interrupt_sending)
        self.interrupted = len(jobs)
        if jobs:
            log.warning("%d print job(s) were being sent when the daemon stopped; they are "
                        "not re-sent by themselves (reprint them): %s", len(jobs), jobs)
        self.cursor = self.durable = await self.db.read(printjobs.read_cursor)
        for worker in self.workers.values():
            worker.start()
        self._task = asyncio.create_task(self._materialize_loop(), name="print-materialize")

    async def stop(self) -> None:
        self.stopping = True
        self._stop.set()
        tasks = [t for t in [self._task, *(w.task for w in self.workers.values())] if t]
        longest = max((w.config.timeout_s for w in self.workers.values()), default=0)
        self._new_events.set()
        for worker in self.workers.values():
            worker.wake.set()
            worker.printer.abort()  # a status check or send in a thread ends now
        if tasks:  # else within its timeouts; then cancel what still waits
            _, pending = await asyncio.wait(tasks, timeout=3 * longest + 2)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.to_thread(self._threads.shutdown)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the printers' own threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def on_commit(self) -> None:
        """Hub listener: a commit happened (maybe an order)."""
        self._new_events.set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, cut short by stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: it can swallow a cancel
                await self._stop.wait()

    def printable(self, name: str) -> bool:
        return self.workers[name].printable

    # -- intents -> jobs --------------------------------------------------------------------
    async def _materialize_loop(self) -> None:
        while not self.stopping:
            try:
                await self.materialize()
            except Exception:  # storage trouble: the cursor has not moved; try again
                log.exception("print jobs: materializing failed")
                await self.sleep(self.settings.retry_max_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_s):
                    await self._new_events.wait()
            self._new_events.clear()

    async def materialize(self) -> None:
        while True:
            rows = await self.db.read(printjobs.outbox_after, self.cursor, BATCH)
            if not rows:
                return
            jobs: list[printjobs.NewJob] = []
            for _, data in rows:
                if data is not None:
                    order = orjson.loads(data)["order"]
                    self._remember(order)
                    jobs += jobs_for(order, self.settings.printers, self.printable)
            last = rows[-1][0]
            if jobs or last - self.durable >= CURSOR_SLACK:
                if await self.db.write(printjobs.materialize, self.durable, last, jobs) is None:
                    self.cursor = self.durable = await self.db.read(printjobs.read_cursor)
                    continue
                self.durable = last
                self._wake({printer for *_, printer in jobs if printer})
            self.cursor = last
            if len(rows) < BATCH:
                return

    def _remember(self, order: dict[str, Any]) -> None:
        self.orders[order["id"]] = order
        if len(self.orders) > ORDERS_KEPT:
            self.orders.popitem(last=False)

    def _wake(self, printers: set[str]) -> None:
        for name in printers:
            self.workers[name].wake.set()

    # -- fail-over and reprint --------------------------------------------------------------
    async def failover(self, worker: PrinterWorker) -> None:
        """Move a failing printer's queue to its backup: at once for paper out or an open
        cover, after ``print.failover_after`` failed tries otherwise."""
        if not worker.config.backup or worker.printable:
            return
        if worker.failures < self.settings.failover_after and \
                worker.state not in ("paper_out", "cover_open"):
            return
        target = route(worker.name, self.settings.printers, self.printable)
        if target != worker.name:
            moved = await self.db.write(printjobs.move_queued, worker.name, target, worker.state)
            if moved:
                log.warning("printer %s is %s: %d job(s) moved to %s", worker.name,
                            worker.state, moved, target)
                self._wake({target})

    async def reprint(self, order_id: str, by: str, kinds: Sequence[str] = KINDS,
                      station: str | None = None) -> list[dict[str, Any]]:
        """New jobs for an order, asked for by a person (state "reprint")."""
        order = await self.db.read(fetch_order, order_id)
        jobs = plan_reprint(order, order_id, self.settings, self.printable, kinds, station)
        await self.db.write(printjobs.reprint, order_id, jobs, by)
        self._wake({printer for *_, printer in jobs if printer})
        return await self.db.read(printjobs.jobs_of_order, order_id)


def plan_reprint(order: dict[str, Any] | None, order_id: str, settings: PrintSettings,
                 printable: Callable[[str], bool], kinds: Sequence[str], station: str | None
                 ) -> list[printjobs.NewJob]:
    """The jobs of a reprint; ``NotFound`` / ``Conflict`` when there is nothing to print."""
    if order is None:
        raise NotFound("unknown_order", {"id": order_id})
    if not settings.printers:
        raise Conflict("printing_not_configured", None)
    jobs = [j for j in jobs_for(order, settings.printers, printable, kinds, station) if j[3]]
    if not jobs:
        raise Conflict("nothing_to_print", {"kinds": list(kinds), "station": station})
    return jobs


@keeps_stock_cache
def reset_cursor(tx: Tx) -> None:
    """No printers: the cursor follows the outbox, so printers added later do not print the
    orders placed before them."""
    tx.cur.execute("UPDATE meta SET value = (SELECT value FROM meta WHERE "
                   "key = 'outbox_last_seq') WHERE key = 'print_cursor'")


async def printing_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the print coordinator, when printers are configured."""
    settings, db = app[keys.SETTINGS], app[keys.DB]
    if not settings.printing.printers:
        await db.write(reset_cursor)
        yield
        await db.write(reset_cursor)
        return
    coord = PrintCoordinator(db, settings.printing, settings.store_id, settings.timezone)
    await coord.start()
    app[keys.PRINTING] = coord
    app[keys.HUB].listeners.append(coord.on_commit)
    app[keys.METRICS].registry.register(PrinterCollector(coord))
    try:
        yield
    finally:
        app[keys.HUB].listeners.remove(coord.on_commit)
        await coord.stop()
