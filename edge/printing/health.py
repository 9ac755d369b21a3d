"""What technicians see of the printers: the health document and the Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from edge.printing import jobs as printjobs
from edge.printing.worker import STATE_OF

if TYPE_CHECKING:
    from edge.printing.coordinator import PrintCoordinator

STATES = ("unknown", "ok", "paper_low", *sorted(set(STATE_OF.values())))


async def printers_health(coord: PrintCoordinator | None
                          ) -> tuple[dict[str, Any], dict[str, int]]:
    """``({printer: {state, queued, ...}}, {job state: count})`` of the jobs not printed, for
    ``GET /api/v1/health``."""
    if coord is None:
        return {}, {}
    counts = await coord.db.read(printjobs.open_counts)
    printers = {
        name: {"type": w.config.type, "state": w.state, "printable": w.printable,
               "detail": w.detail, "since": w.since, "queued": counts.get("queued", {}).get(name, 0),
               "printed": w.printed, "backup": w.config.backup or None,
               "stations": list(w.config.stations), "receipts": w.config.receipts,
               "labels": w.config.labels}
        for name, w in coord.workers.items()
    }
    jobs = {state: sum(by_printer.values()) for state, by_printer in counts.items()}
    return printers, jobs


class PrinterCollector(Collector):
    """Printer gauges and counters, read from the coordinator at each scrape."""

    def __init__(self, coord: PrintCoordinator) -> None:
        self.coord = coord

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily("storenode_printer_up", "1 while the printer can print",
                               labels=["printer"])
        state = GaugeMetricFamily("storenode_printer_state",
                                  "1 for the printer's current state", labels=["printer", "state"])
        queued = GaugeMetricFamily("storenode_print_jobs_queued",
                                   "Jobs waiting for the printer (as its worker last counted)",
                                   labels=["printer"])
        printed = CounterMetricFamily("storenode_print_jobs_printed", "Jobs printed",
                                      labels=["printer"])
        failed = CounterMetricFamily("storenode_print_failures", "Tries that did not print",
                                     labels=["printer", "reason"])
        for name, w in self.coord.workers.items():
            up.add_metric([name], 1.0 if w.printable else 0.0)
            for s in STATES:
                state.add_metric([name, s], 1.0 if w.state == s else 0.0)
            queued.add_metric([name], w.queued)
            printed.add_metric([name], w.printed)
            for reason, n in w.failed_by_reason.items():
                failed.add_metric([name, reason], n)
        yield from (up, state, queued, printed, failed)
