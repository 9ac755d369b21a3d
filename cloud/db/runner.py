"""``DbRunner``: the async handle on the HQ database. Blocking operations run on a thread of
their own; the long reports on a second thread and connection, opened on first use.

An operation is a function reference that takes the database first, e.g.
``await runner.call(StoreOps.get_store, "s1")``: mypy and "go to definition" follow it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, Final, TypeVar

from cloud.db.thread import DbThread

T = TypeVar("T")
REPORT_TIMEOUT_S: Final = 600.0


class DbUnavailable(Exception):
    """The database did not answer (server down, file unreadable): HTTP 503."""


def _unavailable_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [sqlite3.OperationalError, TimeoutError]
    try:
        import psycopg
    except ImportError:
        return tuple(errors)
    return (*errors, psycopg.OperationalError, psycopg.InterfaceError)


UNAVAILABLE = _unavailable_errors()


class DbRunner:
    """Runs ``operation(db, *args)`` off the event loop. ``reports`` are the operations that
    read every order line of a period (seconds to tens of seconds over ten million lines):
    they run on a connection and thread of their own, so one never holds up the API's other
    calls (a store list, a webhook forwarded to a store) nor times out at their 30 s."""

    def __init__(self, db: Any, thread: DbThread, timeout_s: float = 30, *,
                 url: str | None = None, opener: Callable[[str], Any] | None = None,
                 reports: frozenset[Callable[..., Any]] = frozenset()) -> None:
        self.db, self._thread, self.timeout_s = db, thread, timeout_s
        self._url, self._opener, self._report_ops = url, opener, reports
        self._reports: DbRunner | None = None
        self._opening = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, opener: Callable[[str], Any], name: str = "cloud-api-db",
                   timeout_s: float = 30,
                   reports: frozenset[Callable[..., Any]] = frozenset()) -> DbRunner:
        """``opener(url)`` on a new database thread (e.g. ``CloudDb.open``)."""
        thread = DbThread(name)
        try:
            db = await thread.call(opener, url)
        except BaseException:
            await thread.close()
            raise
        return cls(db, thread, timeout_s, url=url, opener=opener, reports=reports)

    async def call(self, operation: Callable[..., T], *args: Any) -> T:
        """``operation(db, *args)``; a database that does not answer raises DbUnavailable."""
        if operation in self._report_ops:
            return await (await self.reports()).call(operation, *args)
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives as the call completes, and whoever cancelled us would wait for ever
            async with asyncio.timeout(self.timeout_s):
                return await self._thread.call(operation, self.db, *args)
        except UNAVAILABLE as exc:
            raise DbUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def reports(self) -> DbRunner:
        """The runner of the long reports (opened once, on first use)."""
        assert self._url is not None and self._opener is not None
        async with self._opening:
            if self._reports is None:
                try:
                    self._reports = await DbRunner.open(self._url, self._opener,
                                                        "cloud-reports-db", REPORT_TIMEOUT_S)
                except UNAVAILABLE as exc:
                    raise DbUnavailable(f"{type(exc).__name__}: {exc}") from exc
            return self._reports

    async def close(self) -> None:
        if self._reports is not None:
            await self._reports.close()
        await self._thread.close()
        await asyncio.get_running_loop().run_in_executor(None, self.db.close)
