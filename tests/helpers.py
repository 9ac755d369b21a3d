"""Test helpers: the local-stack helpers of ``devtools.helpers``, and the manual's text."""

from __future__ import annotations

from devtools.helpers import ROOT, STAFF, Daemon, free_port, login, make_store, request

__all__ = ["ROOT", "STAFF", "Daemon", "free_port", "login", "make_store", "manual", "request"]


def manual(page: str | None = None) -> str:
    """The manual's text (``docs/``, built by mkdocs): one page, or every page together."""
    docs = ROOT / "docs"
    if page is not None:
        return (docs / page).read_text(encoding="utf-8")
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(docs.rglob("*.md")))
