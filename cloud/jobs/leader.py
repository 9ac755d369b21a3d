"""Scheduler leadership: of all HQ processes on one database, one runs the analytics jobs.

- PostgreSQL: ``pg_try_advisory_lock(SCHEDULER_LOCK)`` on a connection of its own, held while
  leading. The server releases a session lock when the session ends, so a process that dies
  (or whose connection is cut) hands over at once: the next ``acquire`` of another process
  gets it. While leading, ``acquire`` checks in ``pg_locks`` that this session still holds it;
  a broken connection is leadership lost (a new one starts a new try).
- SQLite: a lease row in ``scheduler_lease`` (``holder``, ``expires_at`` in epoch ms) written in
  a ``BEGIN IMMEDIATE`` transaction: taken when absent, expired or already ours, renewed by each
  ``acquire``. A process that dies stops renewing and hands over when the lease expires; one that
  stops cleanly deletes its row (at once).

Leadership decides who runs the scheduler; the per-fire claim (``CloudDb.claim_fire``) makes
each scheduled time run at most once even across a handover. Every method is blocking: the
scheduler calls them on a thread of its own.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Final

from cloud.db.backend import open_backend
from cloud.db.runner import UNAVAILABLE

log = logging.getLogger(__name__)

SCHEDULER_LOCK: Final = 7_305_004  # pg_try_advisory_lock key (session level)
LEASE_NAME: Final = "analytics"
DEFAULT_LEASE_TTL_S: Final = 60.0


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Leadership(ABC):
    """Whether this process runs the jobs. ``acquire`` takes or keeps it."""

    holder: str

    @abstractmethod
    def acquire(self) -> bool:
        """Take leadership, or confirm (renew) it; whether this process leads now."""

    @abstractmethod
    def release(self) -> None:
        """Stop leading (the others may take over at once)."""

    @abstractmethod
    def close(self) -> None:
        """Release and close the connection."""


class PgLeadership(Leadership):
    def __init__(self, url: str, key: int = SCHEDULER_LOCK) -> None:
        import psycopg

        self._psycopg, self.url, self.key = psycopg, url, key
        self.holder = holder_id()
        self._conn: Any = None
        self.held = False

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.held = False  # a new session holds nothing
            # keepalives: a dead link to the server is noticed in ~10 s, not hours
            self._conn = self._psycopg.connect(
                self.url, autocommit=True, connect_timeout=5, keepalives=1,
                keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                application_name="storenode-scheduler")
        return self._conn

    def acquire(self) -> bool:
        try:
            conn = self._connect()
            if self.held:
                self.held = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s "
                    "AND objsubid = 1", (self.key >> 32, self.key & 0xFFFFFFFF)).fetchone()[0] > 0
            if not self.held:
                self.held = bool(conn.execute("SELECT pg_try_advisory_lock(%s)",
                                              (self.key,)).fetchone()[0])
        except self._psycopg.Error as exc:
            log.warning("scheduler leadership: %s", exc)
            self._drop()
        return self.held

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()  # the session ends: the server releases its lock
            except self._psycopg.Error:
                pass

    def release(self) -> None:
        if self.held and self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except self._psycopg.Error:
                self._drop()
        self.held = False

    def close(self) -> None:
        self.release()
        self._drop()


class LeaseLeadership(Leadership):
    """SQLite (any backend would do): a lease row with an expiry, renewed by ``acquire``."""

    def __init__(self, url: str, ttl_s: float = DEFAULT_LEASE_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.db, self.ttl_ms, self.clock = open_backend(url), int(ttl_s * 1000), clock
        self.holder = holder_id()
        self.until_ms = 0  # our lease's expiry as last written

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def acquire(self) -> bool:
        now = self._now_ms()
        try:
            with self.db.write():
                taken = self.db.execute(
                    "INSERT INTO scheduler_lease(name, holder, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                    "expires_at = excluded.expires_at WHERE scheduler_lease.holder = "
                    "excluded.holder OR scheduler_lease.expires_at <= ?",
                    (LEASE_NAME, self.holder, now + self.ttl_ms, now)).rowcount
        except UNAVAILABLE as exc:  # busy past the timeout: keep what we had
            log.warning("scheduler lease: %s", exc)
            return now < self.until_ms
        self.until_ms = now + self.ttl_ms if taken else 0
        return bool(taken)

    def release(self) -> None:
        try:
            with self.db.write():
                self.db.execute("DELETE FROM scheduler_lease WHERE name = ? AND holder = ?",
                                (LEASE_NAME, self.holder))
        except UNAVAILABLE as exc:
            log.warning("scheduler lease: could not release (it expires): %s", exc)
        self.until_ms = 0

    def close(self) -> None:
        try:
            self.release()
        finally:
            self.db.close()


def open_leadership(url: str, lease_ttl_s: float = DEFAULT_LEASE_TTL_S) -> Leadership:
    """The advisory lock on PostgreSQL, the lease row on SQLite."""
    if url.startswith(("postgresql://", "postgres://")):
        return PgLeadership(url)
    return LeaseLeadership(url, lease_ttl_s)
