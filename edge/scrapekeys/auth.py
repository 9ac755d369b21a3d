"""A scrape key as the caller of a request: the auth middleware (``edge/routes.py``) asks here
first. A scrape key opens ``GET /metrics`` and nothing else; a request without one goes on to
the staff tokens (which keep working on ``/metrics`` for a manager or technician)."""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from common.errors import StorageError
from common.http.apikeys import matches, touch_due, unknown_key
from common.http.auth import Principal
from common.http.errors import ApiError

from edge import keys
from edge.scrapekeys import sql
from edge.staff.roles import SCRAPER

log = logging.getLogger(__name__)
OPENS: Final = frozenset({("GET", "/metrics"), ("HEAD", "/metrics")})


async def scrape_principal(request: web.Request, public_paths: frozenset[str]
                           ) -> Principal | None:
    """The scrape key calling, when the request sends one (None otherwise); 401 for a
    malformed, unknown or revoked key, 403 on any route but ``GET /metrics``."""
    presented = sql.FORMAT.presented(request, public_paths)
    if presented is None:
        return None
    key_id, key = presented
    db = request.app[keys.DB]
    found = await db.read(sql.live, key_id)  # a reader connection: the loop never waits
    if found is None or not matches(found[0], key):
        raise unknown_key()
    if (request.method, request.path) not in OPENS:
        raise ApiError(403, "forbidden", {"key": key_id, "needs": "a staff token: a scrape "
                                          "key opens GET /metrics only"})
    if touch_due(found[1]):  # at most once a minute, through the single writer
        try:
            await db.write(sql.touch, key_id)
        except StorageError as exc:  # a full disk must not also hide the metrics showing it
            log.warning("scrape key %s: last use not recorded: %s", key_id, exc)
    return Principal(f"key:{key_id}", SCRAPER)
