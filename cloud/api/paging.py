"""Cursor pagination of the HQ API's lists (docs/hq-api.md#pagination).

``?limit=`` bounds a page (each list has a default and a maximum); ``?cursor=`` is the opaque
``next`` of the page before (empty: the first page). With ``cursor`` in the query the answer
is ``{"items": [...], "next": cursor|null}``; without it, the list itself, as before pagination
existed. Either way a page with more after it carries the next cursor in ``X-Next-Cursor`` and
a ``Link: <...>; rel="next"`` header. A cursor is urlsafe base64 of JSON ``[tag, *key]``: the
sort key of the last row shown, checked on the way in (a garbled or foreign one is 400
``bad_cursor``), and only ever bound as a parameter."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.api.schemas import query_limit
from cloud.db.keyset import Key, Keyset

MAX_CURSOR: Final = 600  # characters of a cursor
MAX_TEXT: Final = 128  # characters of one text value in a key
MAX_INT: Final = 2**63 - 1  # BIGINT
CURSOR = {"type": "string", "maxLength": MAX_CURSOR, "pattern": "^[A-Za-z0-9_-]*$",
          "description": "the `next` of the page before; empty: the first page, as "
                         '{"items","next"}'}


@dataclass(frozen=True)
class Page:
    keyset: Keyset
    after: Key | None  # the key of the last row of the page before
    limit: int
    envelope: bool  # answer {"items", "next"}: ``cursor`` was in the query

    @property
    def fetch(self) -> int:
        """Rows to read: one more than the page shows tells whether there is a next page."""
        return self.limit + 1


def query(keyset: Keyset, **others: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The OpenAPI query parameters of a paged list: ``others``, ``limit`` and ``cursor``."""
    return {**others, "cursor": CURSOR,
            "limit": {"type": "integer", "minimum": 1, "maximum": keyset.high,
                      "default": keyset.default}}


def page(request: web.Request, keyset: Keyset) -> Page:
    """The page a request asks for (400 ``bad_query`` / ``bad_cursor``)."""
    limit = query_limit(request, keyset.default, keyset.high)
    text = request.query.get("cursor")
    return Page(keyset, decode(keyset, text) if text else None, limit, text is not None)


def respond(request: web.Request, found: Page, rows: list[dict[str, Any]]) -> web.Response:
    """The page of ``rows`` (read with ``found.fetch``), as a list or ``{"items", "next"}``."""
    shown = rows[:found.limit]
    following = encode(found.keyset, found.keyset.key(shown[-1])) \
        if len(rows) > found.limit else None
    for row in shown:
        for name in found.keyset.hidden:
            del row[name]
    headers: dict[str, str] = {}
    if following is not None:
        headers["X-Next-Cursor"] = following
        headers["Link"] = f'<{request.rel_url.update_query(cursor=following)}>; rel="next"'
    body: Any = {"items": shown, "next": following} if found.envelope else shown
    return web.json_response(body, headers=headers)


def encode(keyset: Keyset, key: Key) -> str:
    text = json.dumps([keyset.tag, *key], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(keyset: Keyset, text: str) -> Key:
    """The key a cursor of ``keyset`` holds; 400 ``bad_cursor`` for anything else."""
    try:
        if len(text) > MAX_CURSOR or not text.isascii():
            raise ValueError("too long")
        found = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        found = None
    if not isinstance(found, list) or found[:1] != [keyset.tag] \
            or len(found) != len(keyset.columns) + 1 \
            or not all(_fits(value, column.kind) for value, column in
                       zip(found[1:], keyset.columns, strict=True)):
        raise ApiError(400, "bad_cursor", "not a cursor of this list: start again without one")
    return tuple(found[1:])


def _fits(value: Any, kind: type) -> bool:
    if kind is int:
        return type(value) is int and 0 <= value <= MAX_INT
    if type(value) is not str or len(value) > MAX_TEXT or "\x00" in value:
        return False
    try:
        value.encode()  # no lone surrogate: the database could not take it
    except UnicodeEncodeError:
        return False
    return True
