"""Errors of the HTTP layer, refused before any middleware runs, are JSON like the API's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from common.http.errors import error_middleware
from common.http.server import AppRunner


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"path": request.path_qs})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/", ok)
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` as it is; the status, headers and body of the answer, read to EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # the server closes after an error
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("raw", [
    b"GET /?cursor=" + b"%F3%86%8B%87" * 2500 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # line > 8190
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",  # header > 8190
    b"GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 HTTP/1.1\r\n\r\n",  # TLS to a plain port
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
])
async def test_what_the_parser_refuses_is_a_json_400(port: int, raw: bytes) -> None:
    status, headers, body = await exchange(port, raw)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)
    assert error["error"] == "bad_request"
    assert "not an HTTP request this server reads" in error["detail"]
    assert b"%F3" not in body and b"aaaa" not in body  # the refused bytes are not echoed


async def test_a_good_request_on_the_same_server_is_answered(port: int) -> None:
    status, _, body = await exchange(
        port, b"GET /?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (status, json.loads(body)) == (200, {"path": "/?a=1"})
