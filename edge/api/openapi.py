"""The edge LAN API's OpenAPI document, from its route table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.http.openapi import build_document

from .. import __version__
from .routes import ROUTES

EDGE_INFO: dict[str, Any] = {"title": "storenode edge LAN API", "version": __version__}


def edge_document() -> dict[str, Any]:
    return build_document(ROUTES, EDGE_INFO)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(edge_document())
