"""OpenAPI 3.1 document of the HQ API, generated from the route table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge import __version__
from edge.api.openapi import ERROR, _operation

from .routes import ROUTES


def build_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "storenode HQ API", "version": __version__,
                 "description": "Roles: hq_admin (everything), analyst (GET only)."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_document())
