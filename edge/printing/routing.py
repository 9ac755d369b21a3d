"""Which printer prints what: as data in the ``[printers.<name>]`` tables. Pure functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from drivers.printer import PrinterConfig

from edge.printing.jobs import NewJob

KINDS: Final = ("kitchen", "receipt", "label")


def route(name: str, printers: Mapping[str, PrinterConfig],
          printable: Callable[[str], bool]) -> str:
    """``name``, or the first printable printer down its chain of backups while it cannot
    print (``name`` itself when none can: its jobs wait there)."""
    seen, current = {name}, printers[name].backup
    if printable(name):
        return name
    while current and current not in seen:
        if printable(current):
            return current
        seen.add(current)
        current = printers[current].backup
    return name


def jobs_for(order: Mapping[str, Any], printers: Mapping[str, PrinterConfig],
             printable: Callable[[str], bool], kinds: Sequence[str] = KINDS,
             station: str | None = None) -> list[NewJob]:
    """The jobs an order makes: a kitchen ticket per station (``None`` as printer when no
    printer prints that station), a receipt per receipt printer, a pickup label per label
    printer for a pickup order."""
    oid: str = order["id"]
    jobs: list[NewJob] = []
    if "kitchen" in kinds:
        for st in order["stations"]:
            if not st or (station is not None and st != station):
                continue
            targets = [p.name for p in printers.values() if st in p.stations]
            jobs += [(oid, "kitchen", st, route(p, printers, printable)) for p in targets]
            if not targets:
                jobs.append((oid, "kitchen", st, None))
    for kind, wanted in (("receipt", True), ("label", bool(order.get("pickup")))):
        if kind in kinds and wanted:
            jobs += [(oid, kind, None, route(p.name, printers, printable))
                     for p in printers.values() if getattr(p, kind + "s")]
    return jobs
