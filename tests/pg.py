"""A throw-away PostgreSQL database for a test or a benchmark.

``STORENODE_TEST_PG`` names the server (default: the local one, user postgres). When that
variable is set, an unreachable server fails the test; only when it is unset may it skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "STORENODE_TEST_PG"
DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> tuple[str, bool]:
    """(URL of the server's maintenance database, whether PostgreSQL is required)."""
    url = os.environ.get(ENV)
    return (url, True) if url else (DEFAULT, False)


@contextmanager
def throwaway_database(prefix: str = "storenode_test") -> Iterator[str]:
    """Create ``{prefix}_<random>``, yield its URL, drop it afterwards."""
    url, required = server_url()
    try:
        import psycopg
        from psycopg import sql

        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except Exception as exc:  # ImportError or OperationalError
        message = f"PostgreSQL at {url} is unreachable: {exc}"
        if required:
            pytest.fail(f"{message} ({ENV} is set)")
        pytest.skip(message)
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(urlsplit(url)._replace(path="/" + name))
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))
    finally:
        admin.close()
