"""Test helpers: the local-stack helpers of ``devtools.helpers``, and the manual's text."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from devtools.helpers import ROOT, STAFF, Daemon, free_port, login, make_store, request
from edge.config import load_settings
from edge.tables import commands

__all__ = ["ROOT", "STAFF", "Daemon", "free_port", "login", "make_store", "manual", "request",
           "store_with_tables"]


def manual(page: str | None = None) -> str:
    """The manual's text (``docs/``, built by mkdocs): one page, or every page together."""
    docs = ROOT / "docs"
    if page is not None:
        return (docs / page).read_text(encoding="utf-8")
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(docs.rglob("*.md")))


def store_with_tables(data_dir: Path, tables: tuple[tuple[str, str, int, str], ...]) -> Path:
    """A demo store with these tables ``(id, name, seats, area)``."""
    make_store(data_dir)
    settings = load_settings(data_dir)
    for table_id, name, seats, area in tables:
        commands.add_table(settings, table_id, name, seats, area)
    return data_dir


def utc_today(margin_s: float = 60.0) -> date:
    """Today (UTC) for a test that compares it with the day HQ stamps on what it stores:
    within ``margin_s`` of midnight, wait for the next day first, so that the test (shorter
    than that) runs within one day (a suite running across midnight failed on a day
    computed when it was collected)."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    left = (midnight - now).total_seconds()
    if left < margin_s:
        time.sleep(left + 0.5)
    return datetime.now(UTC).date()
