"""The printing operations the CLI runs without the daemon (thin ``storenode printer …``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from drivers.printer import open_printer

from edge.config import CONFIG_FILE, load_settings
from edge.printing import jobs as printjobs
from edge.db.connection import open_writer
from edge.db.database import db_path
from edge.orders.rows import fetch_order
from edge.db.group_commit import run_once
from edge.printing.coordinator import plan_reprint
from edge.printing.settings import DEMO_PRINTERS
from edge.printing.tickets import test_page


def add_demo_printers(data_dir: Path) -> None:
    """The demo store's simulated (file) printers, appended to its edge.toml."""
    with (data_dir / CONFIG_FILE).open("a", encoding="utf-8") as fh:
        fh.write(DEMO_PRINTERS)


def test_printer(data_dir: Path, name: str) -> dict[str, Any]:
    """Ask a printer for its status and print a test page on it, directly (not queued).
    Raises ``KeyError`` for an unknown printer, ``PrinterError`` when it cannot print."""
    settings = load_settings(data_dir)
    config = settings.printing.printers[name]
    printer = open_printer(config)
    before = printer.status()
    after = printer.send([test_page(config, datetime.now(settings.timezone))])
    return {"printer": name, "type": config.type, "printed": True,
            "status_before": before.state if before else None,
            "status": after.state if after else None}


def reprint_order(data_dir: Path, order_id: str, by: str, kinds: Sequence[str],
                  station: str | None) -> list[dict[str, Any]]:
    """Queue an order's tickets again; the running daemon prints them within ``poll_s``."""
    settings = load_settings(data_dir)
    conn = open_writer(db_path(data_dir))
    try:
        order = fetch_order(conn, order_id)
        jobs = plan_reprint(order, order_id, settings.printing, lambda _: True, kinds, station)
        run_once(conn, settings.store_id, printjobs.reprint, order_id, jobs, by)
        return printjobs.jobs_of_order(conn, order_id)
    finally:
        conn.close()
