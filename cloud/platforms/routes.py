"""HQ routes of the delivery platforms: the three webhooks (public, signed by the platform)
and the reads of forwarded orders, callbacks and refused requests."""

from __future__ import annotations

from aiohttp import web

from cloud import keys
from cloud.api import paging
from cloud.api.errors import ApiError
from cloud.names import ID
from cloud.platforms.adapters import ADAPTERS, REASONS
from cloud.platforms.ops import PlatformOps
from cloud.platforms.settings import PLATFORMS
from cloud.platforms.sql import CALLBACKS, ORDERS, REJECTS
from cloud.platforms.webhook import webhook
from common.http.routes import Route

CALLBACK_STATES = ("pending", "sent", "failed")


async def platform_orders(request: web.Request) -> web.Response:
    store = request.query.get("store")
    if store is not None and not ID.match(store):
        raise ApiError(400, "bad_query", {"store": "a store id"})
    found = paging.page(request, ORDERS)
    rows = await request.app[keys.DB].call(PlatformOps.platform_orders, store, found.fetch,
                                           found.after)
    return paging.respond(request, found, rows)


async def platform_callbacks(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in CALLBACK_STATES:
        raise ApiError(400, "bad_query", {"state": list(CALLBACK_STATES)})
    found = paging.page(request, CALLBACKS)
    rows = await request.app[keys.DB].call(PlatformOps.platform_callbacks, state, found.fetch,
                                           found.after)
    return paging.respond(request, found, rows)


async def platform_rejects(request: web.Request) -> web.Response:
    found = paging.page(request, REJECTS)
    rows = await request.app[keys.DB].call(PlatformOps.platform_rejects, found.fetch, found.after)
    return paging.respond(request, found, rows)


PLATFORM_ROUTES: tuple[Route, ...] = (
    *(Route("POST", f"/api/v1/platforms/{name}/orders", webhook(name),
            f"{name} order webhook, signed the {name} way (docs/platforms.md); answers in "
            f"{name}'s shape", public=True, body=ADAPTERS[name].request,
            consumes=ADAPTERS[name].media_type, headers=ADAPTERS[name].headers,
            errors=tuple(sorted({status for status, _, _ in REASONS.values()})))
      for name in PLATFORMS),
    Route("GET", "/api/v1/platforms/orders", platform_orders,
          "Platform orders forwarded to stores and their status there (newest first; paged)",
          query=paging.query(ORDERS, store={"type": "string"}), errors=(400,)),
    Route("GET", "/api/v1/platforms/callbacks", platform_callbacks,
          "Status callbacks to the platforms: pending, sent or failed (newest first; paged)",
          query=paging.query(CALLBACKS, state={"type": "string", "enum": list(CALLBACK_STATES)}),
          errors=(400,)),
    Route("GET", "/api/v1/platforms/rejects", platform_rejects,
          "Refused webhook requests (newest first; paged)", query=paging.query(REJECTS),
          errors=(400,)),
)
