"""The HQ route table (ARCHITECTURE §4b): one row a route; the router, the auth middleware and
the OpenAPI document all read it. Every route but the public ones needs a bearer token; an
``analyst`` may only read (GET), an ``hq_admin`` may do everything; an API key (``snk_…``)
what its scopes open (``cloud/apikeys/scopes.py``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cloud import keys, system
from cloud.analytics.routes import ANALYTICS_ROUTES
from cloud.api import paging
from cloud.api.auth import PRINCIPAL, check_role, login
from cloud.apikeys.auth import key_principal
from cloud.apikeys.routes import KEY_ROUTES
from cloud.apikeys.scopes import document_scopes
from cloud.api.schemas import (
    CATALOG_ITEM,
    LOGIN,
    QUOTAS,
    STOCKTAKE,
    STORES_QUERY,
)
from cloud.campaigns.routes import CAMPAIGN_ROUTES
from cloud.catalog import routes as catalog
from cloud.members.referral_routes import REFERRAL_ROUTES
from cloud.members.routes import MEMBER_ROUTES
from cloud.platforms.routes import PLATFORM_ROUTES
from cloud.feedback.routes import FEEDBACK_ROUTES
from cloud.guests.routes import GUEST_ROUTES
from cloud.pricing.routes import PRICING_ROUTES
from cloud.reports.routes import REPORT_ROUTES
from cloud.reservations.routes import RESERVATION_ROUTES
from cloud.stores import routes as stores
from cloud.stores.sql import CONFLICTS, ORDERS, STOCK_ALERTS, STORES
from common import __version__
from common.http.auth import bearer
from common.http.errors import Handler
from common.http.openapi import build_document
from common.http.routes import Route

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/health", system.health, "Liveness: broker connection and database",
          public=True),
    Route("POST", "/api/v1/auth/login", login, "HQ user login; returns a bearer token",
          public=True, body=LOGIN, errors=(400, 401, 422, 429)),
    Route("GET", "/api/v1/stores", stores.list_stores,
          "Every store: online, last_seen, applied_seq, lag_s (by store id; paged)",
          query=paging.query(STORES), errors=(400,)),
    Route("GET", "/api/v1/stores/{store}/orders", stores.store_orders,
          "A store's orders (newest first, with lines) created at or after ?since (paged)",
          query=paging.query(ORDERS, since={"type": "string", "format": "date-time"}),
          errors=(400, 404)),
    Route("GET", "/api/v1/stores/{store}/inventory", stores.store_inventory,
          "A store's stock per SKU (sum of the store's deltas)", errors=(404,)),
    Route("GET", "/api/v1/stores/{store}/stock-alerts", stores.stock_alerts,
          "A store's stock.low alerts (on_hand under safety stock when sold), oldest first "
          "(paged)", query=paging.query(STOCK_ALERTS), errors=(400, 404)),
    Route("POST", "/api/v1/stores/{store}/inventory/{sku}/stocktake", stores.stocktake,
          "Record a counted quantity; the store gets the difference as a stock adjustment "
          "(hq_admin)", body=STOCKTAKE, ok=201, errors=(400, 404, 422)),
    Route("GET", "/api/v1/conflicts", stores.conflicts,
          "Conflicts found while applying stores' events (e.g. a coupon redeemed twice), "
          "oldest first (paged)",
          query=paging.query(CONFLICTS, resolved={"type": "string", "enum": ["true", "false"]}),
          errors=(400,)),
    Route("POST", "/api/v1/conflicts/{id}/resolve", stores.resolve_conflict,
          "Mark a conflict resolved (hq_admin)", errors=(404,)),
    Route("PUT", "/api/v1/catalog/items/{sku}", catalog.put_item,
          "Create or replace an item at every store or at ?stores=s1,s2, through the change "
          "feed (hq_admin)", body=CATALOG_ITEM, query=STORES_QUERY, errors=(400, 404, 422)),
    Route("PUT", "/api/v1/catalog/items/{sku}/quotas", catalog.put_quotas,
          "Set per-channel daily quotas (null removes one) at every store or at ?stores= "
          "(hq_admin)", body=QUOTAS, query=STORES_QUERY, errors=(400, 404, 422)),
    *REFERRAL_ROUTES,  # /members/{member}/referral before /members/{member}
    *MEMBER_ROUTES,
    *ANALYTICS_ROUTES,
    *PLATFORM_ROUTES,
    *REPORT_ROUTES,
    *RESERVATION_ROUTES,
    *FEEDBACK_ROUTES,
    *CAMPAIGN_ROUTES,
    *PRICING_ROUTES,
    *GUEST_ROUTES,
    *KEY_ROUTES,
    Route("GET", "/metrics", system.metrics, "Prometheus metrics", produces="text/plain"),
)

PUBLIC_PATHS = frozenset(r.path for r in ROUTES if r.public) | {"/api/openapi.json"}


HQ_INFO: dict[str, Any] = {"title": "storenode HQ API", "version": __version__,
                           "description": "Roles: hq_admin (everything), analyst (GET only). "
                                          "API keys (snk_…): x-key-scopes lists the scopes "
                                          "that open an operation."}


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this route table."""
    return web.json_response(document_scopes(build_document(ROUTES, HQ_INFO)))


def setup_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/api/openapi.json", openapi)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    who = await key_principal(request, PUBLIC_PATHS)  # scopes checked there
    if who is None:
        who = bearer(request, request.app[keys.TOKENS], PUBLIC_PATHS)
        if who is not None:
            check_role(request, who)
    if who is not None:
        request[PRINCIPAL] = who
    return await handler(request)
