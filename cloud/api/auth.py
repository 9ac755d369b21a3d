"""HQ login: scrypt password hashes, signed bearer tokens with expiry, a login rate limit, and
the two roles: ``hq_admin`` may do everything, ``analyst`` may only read (GET)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import LOGIN, ROLES, read_body
from cloud.api.users import UserOps
from common.http.auth import PRINCIPAL, LoginLimiter, Principal, TokenSigner
from common.passwords import hash_pin, verify_pin

__all__ = ["PRINCIPAL", "ROLES", "LoginLimiter", "TokenSigner", "hash_password", "login"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_PASSWORD = 8
# verified for unknown users too, so the answer's timing does not tell which users exist
_DUMMY_HASH = hash_pin("not-a-password")


def hash_password(password: str) -> str:
    """A salted scrypt hash (the edge's PIN scheme, ``scrypt$N$salt$digest``)."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return hash_pin(password)


def may(who: Principal, method: str) -> bool:
    return who.role == "hq_admin" or (who.role == "analyst" and method in READ_METHODS)


def check_role(request: web.Request, who: Principal) -> None:
    if not may(who, request.method):
        raise ApiError(403, "forbidden", {"role": who.role, "needs": "hq_admin"})


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LOGIN)
    limiter = request.app[keys.LIMITER]
    user, client = "user:" + body["user"], "ip:" + (request.remote or "?")
    wait = limiter.retry_after(user, client)
    if wait:
        raise ApiError(429, "too_many_attempts", {"retry_after_s": wait},
                       headers={"Retry-After": str(wait)})
    found = await request.app[keys.DB].call(UserOps.get_user, body["user"])
    stored = found["password_hash"] if found else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_pin, body["password"], stored)
    if not (found and ok and found["role"] in ROLES):
        limiter.failed(user, client)
        raise ApiError(401, "invalid_credentials", None)
    limiter.succeeded(user)
    tokens = request.app[keys.TOKENS]
    return web.json_response({"token": tokens.issue(body["user"], found["role"]),
                              "user": body["user"], "role": found["role"],
                              "expires_in": tokens.ttl_s})
