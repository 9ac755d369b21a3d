"""An API key as the caller of a request: the auth middleware (``cloud/routes.py``) asks here
first; a request without a key goes on to the signed user tokens."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.apikeys.ops import ApiKeyOps
from cloud.apikeys.scopes import allows, opening
from cloud.apikeys.sql import FORMAT
from common.http.apikeys import unknown_key
from common.http.auth import Principal

KEY_ROLE: Final = "api_key"  # a key's principal: ``key:<id>``, allowed by its scopes alone


async def key_principal(request: web.Request, public_paths: frozenset[str]
                        ) -> Principal | None:
    """The key calling this route, when the request sends one (None otherwise); 401 for a
    malformed, unknown or revoked key, 403 when none of its scopes opens the route."""
    presented = FORMAT.presented(request, public_paths)
    if presented is None:
        return None
    key_id, key = presented
    found = await request.app[keys.DB].call(ApiKeyOps.check_api_key, key_id, key)
    if found is None:
        raise unknown_key()
    resource = request.match_info.route.resource  # None: no such route, 404/405 follows
    if resource is not None and not allows(found["scopes"], request.method, resource.canonical):
        needs = opening(request.method, resource.canonical) or "a logged-in hq_admin"
        raise ApiError(403, "forbidden", {"key": key_id, "scopes": found["scopes"],
                                          "needs": needs})
    return Principal(f"key:{key_id}", KEY_ROLE)
