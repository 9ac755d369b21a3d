"""Signed bearer tokens, the caller of a request, and login rate-limiting; both services' auth
middlewares use them (each service has its own roles and permissions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from common.http.errors import ApiError


@dataclass(frozen=True)
class Principal:
    staff: str
    role: str


VERIFIED_MAX = 1024  # verified tokens remembered (with their expiry) to skip the HMAC


class TokenSigner:
    """``base64url(payload).base64url(hmac)``; stateless, survives daemon restarts."""

    def __init__(self, secret: bytes, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(b"storenode-token:" + secret).digest()
        self.ttl_s = ttl_s
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (who, expires)

    def issue(self, staff: str, role: str) -> str:
        payload = json.dumps({"s": staff, "r": role, "e": int(self._clock()) + self.ttl_s},
                             separators=(",", ":")).encode()
        body = _b64(payload)
        return f"{body}.{_b64(self._sign(body))}"

    def verify(self, token: str) -> Principal | None:
        known = self._verified.get(token)  # a till sends the same token all shift long
        if known is not None:
            who, expires = known
            return who if expires >= self._clock() else None
        body, _, sig = token.partition(".")
        try:
            if not hmac.compare_digest(_unb64(sig), self._sign(body)):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return None
        if not isinstance(payload, dict) or payload.get("e", 0) < self._clock():
            return None
        who = Principal(str(payload["s"]), str(payload["r"]))
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (who, payload["e"])  # only correctly signed tokens
        return who

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LoginLimiter:
    """After ``max_failures`` wrong PINs for a staff id or a client address, lock it out."""

    def __init__(self, max_failures: int, lockout_s: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.lockout_s, self._clock = max_failures, lockout_s, clock
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, *subjects: str) -> int:
        now = self._clock()
        worst = 0.0
        for subject in subjects:
            recent = [t for t in self._failures.get(subject, []) if now - t < self.lockout_s]
            self._failures[subject] = recent
            if len(recent) >= self.max_failures:
                worst = max(worst, recent[-self.max_failures] + self.lockout_s - now)
            if not recent:
                self._failures.pop(subject, None)
        return int(worst) + 1 if worst > 0 else 0

    def failed(self, *subjects: str) -> None:
        for subject in subjects:
            self._failures.setdefault(subject, []).append(self._clock())

    def succeeded(self, subject: str) -> None:
        self._failures.pop(subject, None)


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")


def bearer(request: web.Request, signer: TokenSigner, public_paths: frozenset[str],
           query_token_routes: frozenset[str] = frozenset()) -> Principal | None:
    """The verified caller of an API route, or None for a public path or a page; 401 when the
    token is missing, forged or expired. ``query_token_routes``: the routes (paths as in the
    route table) that also accept ``?token=``: WebSockets, as browsers cannot set headers on
    them. Nowhere else: a token in a URL ends up in logs and browser history. Shared by the
    edge's and the cloud's middleware."""
    if not needs_token(request, public_paths):
        return None
    token = header_token(request)
    if not token and _route_path(request) in query_token_routes:
        token = request.query.get("token", "")
    who = signer.verify(token) if token else None
    if who is None:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token> from /auth/login",
                       headers={"WWW-Authenticate": "Bearer"})
    return who


def needs_token(request: web.Request, public_paths: frozenset[str]) -> bool:
    """Whether the request is for an API route (or ``/metrics``) that is not public."""
    path = request.path
    if path in public_paths or not (path.startswith("/api/") or path == "/metrics"):
        return False
    # a public route with a parameter, e.g. /api/v1/guest/{token}/menu
    return _route_path(request) not in public_paths


def header_token(request: web.Request) -> str:
    """The token of ``Authorization: Bearer <token>``, or ``""``."""
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else ""


def _route_path(request: web.Request) -> str | None:
    """The path of the matched route as written in the route table (``/x/{id}``)."""
    resource = request.match_info.route.resource
    return None if resource is None else resource.canonical


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]
