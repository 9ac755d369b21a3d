"""The runner both daemons serve with: aiohttp's, with errors of the HTTP layer in JSON.

A request aiohttp's parser refuses (a request line or a header past 8,190 bytes, a malformed
line, a bad method) never reaches the app's middlewares: aiohttp answers it from its
connection handler with a plain-text 400. Here that handler answers ``{"error", "detail"}``
like every other error of the API, so a client (or a fuzzer) sees one error format. The
hooks are aiohttp's connection classes (``web.Server`` makes one ``RequestHandler`` per
connection); ``tests/common/test_http_server.py`` fails if an aiohttp upgrade moves them.
"""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from common.http.errors import HTTP_CODES, error_response


class JsonErrorHandler(RequestHandler):
    """One connection's handler; its own error answers (parser errors, a 500) are JSON."""

    __slots__ = ()

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if already answered
        if status >= 500:
            response = error_response(status, "internal_error", "see the daemon log")
        else:  # aiohttp's message echoes the refused bytes: not sent back
            reason = type(exc).__name__ if exc is not None else HTTPStatus(status).phrase
            response = error_response(
                status, HTTP_CODES.get(status, "http_error"),
                f"{reason}: not an HTTP request this server reads (request line and each "
                f"header at most 8190 bytes)")
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer HTTP-level errors in JSON."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state, one method more
        return server
