"""Errors raised by the domain and the store, rendered as the JSON error body."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that the rules refuse. ``status`` is the HTTP status to answer."""

    status = 422

    def __init__(self, code: str, detail: Any = None, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class StorageError(Exception):
    """The database could not durably save; the caller must not report success."""

    status = 503
    code = "storage_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StorageFull(StorageError):
    status = 507
    code = "storage_full"
