"""JSON error bodies ``{"error": code, "detail": ...}`` for every failure."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from common.errors import DomainError, StorageError
from common.ratewindow import RateWindow

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestObserver(Protocol):
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None: ...


# the app's request metrics, when it keeps them there (the edge does)
REQUEST_METRICS: web.AppKey[RequestObserver] = web.AppKey("request_metrics")


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def too_many(window: RateWindow, key: str) -> ApiError:
    """The 429 ``slow_down`` for ``key``, over its limit in ``window``, with ``Retry-After``."""
    wait = window.retry_after(key, time.monotonic())
    return ApiError(429, "slow_down", {"retry_after_s": wait}, headers={"Retry-After": str(wait)})


def slow_down(request: web.Request, window: RateWindow) -> None:
    """Count a call of the request's address in ``window``; 429 when it is over the limit."""
    address = request.remote or "?"
    if not window.allow(address, time.monotonic()):
        raise too_many(window, address)


def error_response(status: int, code: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"error": code, "detail": detail}, ensure_ascii=False, default=str)
    return web.Response(status=status, text=body, content_type="application/json",
                        headers=headers)


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.detail, exc.headers)
    except DomainError as exc:
        response = error_response(exc.status, exc.code, exc.detail)
    except StorageError as exc:
        response = error_response(exc.status, exc.code, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = error_response(500, "internal_error", "see the daemon log")
    metrics = request.app.get(REQUEST_METRICS)
    if metrics is not None:
        metrics.observe_request(request.method, route_name, response.status,
                                time.perf_counter() - started)
    return response
