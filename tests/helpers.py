"""Test helpers: the local-stack helpers of ``devtools.helpers``, and the manual's text."""

from __future__ import annotations

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
