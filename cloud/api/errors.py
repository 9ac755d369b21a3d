"""Errors of the HQ API: the edge's JSON error middleware (``{"error", "detail"}`` bodies, a
logged 500 only for bugs) plus the cloud's own errors mapped onto it, request timing, and
the 429 of the rate-limited public routes."""

from __future__ import annotations

import time

from aiohttp import web

from cloud import keys
from cloud.db.runner import DbUnavailable
from cloud.errors import StoreExists, UnknownStore, UserExists
from common.http.errors import ApiError, Handler, error_middleware

__all__ = ["ApiError", "MIDDLEWARES", "slow_down"]


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)  # error_middleware below answers every exception
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[keys.METRICS].observe_http(request.method, route, response.status,
                                           time.perf_counter() - started)
    return response


@web.middleware
async def cloud_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except UnknownStore as exc:
        raise ApiError(404, "unknown_store", str(exc)) from exc
    except (StoreExists, UserExists) as exc:
        raise ApiError(409, "exists", str(exc)) from exc
    except DbUnavailable as exc:
        raise ApiError(503, "db_unavailable", str(exc)[:300]) from exc


MIDDLEWARES = (timing_middleware, error_middleware, cloud_errors_middleware)
