"""One worker per printer: sends its queued jobs one at a time, and turns what the driver
raises into the printer's state (offline, paper out, cover open, error) and backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from common.clock import utc_now_iso
from common.errors import Conflict
from drivers.printer import Printer, PrinterConfig, PrinterError

from edge.feedback.sql import token_for
from edge.printing import jobs as printjobs
from edge.orders.rows import fetch_order
from edge.printing import tickets

if TYPE_CHECKING:
    from edge.printing.coordinator import PrintCoordinator

log = logging.getLogger(__name__)

STATE_OF: Final = {"offline": "offline", "no_answer": "offline", "io": "offline",
                   "paper_out": "paper_out", "cover_open": "cover_open", "error": "error"}
PRINTABLE: Final = frozenset({"unknown", "ok", "paper_low"})
BATCH: Final = 20  # queued jobs sent in one connection


class PrinterWorker:
    def __init__(self, coord: PrintCoordinator, config: PrinterConfig, printer: Printer) -> None:
        self.coord, self.config, self.printer = coord, config, printer
        self.name = config.name
        self.state, self.detail, self.since = "unknown", "", utc_now_iso()
        self.queued = self.printed = self.failures = 0  # failures: in a row
        self.failed_by_reason: Counter[str] = Counter()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def printable(self) -> bool:
        return self.state in PRINTABLE

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"printer-{self.name}")

    async def _run(self) -> None:
        coord = self.coord
        await self._probe()
        while not coord.stopping:
            try:
                jobs, self.queued = await coord.db.read(printjobs.next_jobs, self.name, BATCH)
                if not jobs:
                    await self._idle()
                elif not await self._print(jobs):
                    await coord.sleep(self._backoff())
            except Exception:  # a storage error: keep the worker, try again later
                log.exception("printer %s: worker error", self.name)
                await coord.sleep(coord.settings.retry_max_s)

    async def _idle(self) -> None:
        if not self.printable:  # nothing to print: find out when it is back
            await self.coord.sleep(self._backoff())
            if not self.coord.stopping:
                await self._probe()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.coord.settings.poll_s):  # not wait_for (see sleep)
                await self.wake.wait()
        self.wake.clear()

    def _backoff(self) -> float:
        s = self.coord.settings
        return float(min(s.retry_max_s, s.retry_base_s * 2 ** max(0, self.failures - 1)))

    async def _probe(self) -> None:
        try:
            status = await self.coord.blocking(self.printer.status)
        except PrinterError as exc:
            if self.coord.stopping:
                return
            await self._set_state(STATE_OF[exc.reason], str(exc))
            return
        await self._set_state(status.state if status else "ok", "")

    async def _print(self, jobs: list[dict[str, Any]]) -> bool:
        """Send the jobs (the oldest queued, up to ``BATCH``: a backlog goes out in one
        connection and two commits); False when the printer failed."""
        coord, loop = self.coord, asyncio.get_running_loop()
        data = [await self._render(job) for job in jobs]
        if coord.stopping:  # stop() came while the jobs were read: leave them queued
            return True
        ids = [job["id"] for job in jobs]

        def ready() -> None:  # worker thread: "sending" is on disk before the first byte
            if coord.stopping:
                raise PrinterError("io", "daemon stopping")
            claim = coord.db.write(printjobs.claim, ids, self.name)
            asyncio.run_coroutine_threadsafe(claim, loop).result(timeout=30)

        try:
            status = await self.coord.blocking(self.printer.send, data, ready)
        except Conflict:  # a job moved to the backup meanwhile: look again
            return True
        except PrinterError as exc:
            if exc.printed:
                await coord.db.write(printjobs.printed, ids[:exc.printed])
                self.printed += exc.printed
            await self._failed(jobs[exc.printed:], exc)
            return False
        await coord.db.write(printjobs.printed, ids)
        self.printed += len(ids)
        self.failures = 0
        await self._set_state(status.state if status else "ok", "")
        return True

    async def _render(self, job: dict[str, Any]) -> bytes:
        coord = self.coord
        if job["kind"] == "waitlist":  # a called number's slip (edge/waitlist)
            slip = await coord.db.read(printjobs.waitlist_slip, job["order_id"])
            if slip is None:
                raise LookupError(f"print job {job['id']}: no ticket {job['order_id']}")
            return tickets.waitlist_slip(slip, self.config, coord.tz,
                                         header=coord.settings.header)
        order = coord.orders.get(job["order_id"]) or await coord.db.read(fetch_order,
                                                                          job["order_id"])
        if order is None:  # orders are never deleted: a damaged database (logged, retried)
            raise LookupError(f"print job {job['id']}: no order {job['order_id']}")
        qr_url, token = coord.settings.qr_url, None
        if job["kind"] == "receipt" and "{feedback}" in qr_url:
            token = await coord.db.read(token_for, coord.store_id, job["order_id"])
        return tickets.render(job["kind"], order, self.config, coord.tz, station=job["station"],
                              reprint=job["reprint_by"] is not None,
                              header=coord.settings.header, qr_url=qr_url,
                              store=coord.store_id, feedback=token)

    async def _failed(self, jobs: list[dict[str, Any]], exc: PrinterError) -> None:
        ids = [job["id"] for job in jobs]
        if self.coord.stopping:  # aborted by stop(): not the printer's fault
            await self.coord.db.write(printjobs.failed, ids, "daemon stopping", None)
            return
        self.failures += 1
        self.failed_by_reason[exc.reason] += 1
        log.warning("printer %s: jobs %s not printed (try %d): %s", self.name, ids,
                    jobs[0]["attempts"] + 1, exc)
        event = self._change(STATE_OF[exc.reason], str(exc))
        await self.coord.db.write(printjobs.failed, ids, str(exc), event)
        await self.coord.failover(self)

    async def _set_state(self, state: str, detail: str) -> None:
        event = self._change(state, detail)
        if event is not None:
            await self.coord.db.write(printjobs.state_changed, event)
        if self.printable:
            self.failures = 0

    def _change(self, state: str, detail: str) -> dict[str, Any] | None:
        """The ``printer.state_changed`` event of a new state (none for the first "ok")."""
        previous = self.state
        if state == previous:
            return None
        self.state, self.detail, self.since = state, detail, utc_now_iso()
        if previous == "unknown" and self.printable:
            return None
        alert = not self.printable
        (log.warning if alert else log.info)("printer %s: %s -> %s %s", self.name, previous,
                                             state, detail)
        return {"printer": self.name, "from": previous, "to": state, "detail": detail,
                "alert": alert, "backup": self.config.backup or None}
