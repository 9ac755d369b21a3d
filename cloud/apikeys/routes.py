"""HQ's routes of API keys: list, make, revoke. Only a logged-in hq_admin: an analyst may not
read them and no API key opens them (``scopes.KEYS_PATH``), so every key traces back to a
person (``created_by``: ``user:<id>``, or ``cli:<account>`` for ``storenode-cloud key``)."""

from __future__ import annotations

import logging
from typing import Any, Final

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import read_body
from cloud.apikeys.ops import ApiKeyOps
from cloud.apikeys.scopes import KEYS_PATH, SCOPES_SCHEMA
from common.http.apikeys import ID_PATTERN, NAME
from common.http.auth import PRINCIPAL
from common.http.routes import Route

log = logging.getLogger(__name__)
NEW_KEY: Final[dict[str, Any]] = {
    "type": "object", "required": ["name", "scopes"], "additionalProperties": False,
    "properties": {"name": NAME, "scopes": SCOPES_SCHEMA}}
NO_STORE: Final = {"Cache-Control": "no-store"}  # an answer holding a secret


def _admin(request: web.Request) -> str:
    """``user:<id>`` of the logged-in hq_admin making the request; 403 for anyone else."""
    who = request[PRINCIPAL]
    if who.role != "hq_admin":
        raise ApiError(403, "forbidden", {"role": who.role, "needs": "hq_admin"})
    return f"user:{who.staff}"


async def list_keys(request: web.Request) -> web.Response:
    _admin(request)
    return web.json_response(await request.app[keys.DB].call(ApiKeyOps.api_keys))


async def add_key(request: web.Request) -> web.Response:
    by = _admin(request)
    body = await read_body(request, NEW_KEY)
    made = await request.app[keys.DB].call(ApiKeyOps.add_api_key, body["name"],
                                           body["scopes"], by)
    log.info("API key %s %r %s made by %s", made["id"], made["name"], made["scopes"], by)
    return web.json_response(made, status=201, headers=NO_STORE)


async def revoke_key(request: web.Request) -> web.Response:
    by = _admin(request)
    key_id = request.match_info["id"]
    found = None
    if ID_PATTERN.match(key_id):
        found = await request.app[keys.DB].call(ApiKeyOps.revoke_api_key, key_id, by)
    if found is None:
        raise ApiError(404, "unknown_key", key_id[:64])
    log.info("API key %s %r revoked by %s", key_id, found["name"], found["revoked_by"])
    return web.json_response(found)


KEY_ROUTES: tuple[Route, ...] = (
    Route("GET", KEYS_PATH, list_keys,
          "API keys, revoked ones too, newest first: id, prefix, name, scopes, who made it "
          "and when, last use (to the minute), who revoked it and when; never a secret "
          "(hq_admin, logged in)"),
    Route("POST", KEYS_PATH, add_key,
          "Make an API key {name, scopes}: the answer holds the key, shown this once "
          "(hq_admin, logged in)", body=NEW_KEY, ok=201, errors=(400, 422)),
    Route("DELETE", f"{KEYS_PATH}/{{id}}", revoke_key,
          "Revoke an API key: the next request with it is 401; again: unchanged (hq_admin, "
          "logged in)", errors=(404,)),
)
