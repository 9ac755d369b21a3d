"""One row of a route table: both the router and the OpenAPI document read it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Q = dict[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    public: bool = False
    body: Q | None = None
    query: dict[str, Q] = field(default_factory=dict)
    headers: dict[str, Q] = field(default_factory=dict)
    ok: int = 200
    errors: tuple[int, ...] = ()
    produces: str = "application/json"
    consumes: str = "application/json"  # the body's media type
    websocket: bool = False  # the token may come as ?token= (browsers send no header there)
