"""OpenAPI 3.1 document of the HQ API, generated from the route table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common import __version__
from common.http.openapi import build_document as route_document

from .routes import ROUTES

HQ_INFO: dict[str, Any] = {"title": "storenode HQ API", "version": __version__,
                           "description": "Roles: hq_admin (everything), analyst (GET only)."}


def build_document() -> dict[str, Any]:
    return route_document(ROUTES, HQ_INFO)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_document())
