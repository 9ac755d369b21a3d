"""Members at the till: lookup, create, identities, profile edits, views, redeem, top-up;
"often bought together".

Raw identifiers (a phone number, a card code, a WeChat unionid) live only in this request:
they are hashed with the tenant key before anything is read or written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from common.consent import CONSENTS
from common.errors import NotFound
from common.http.body import read_body
from common.http.errors import ApiError
from common.referrals import normal
from common.schemas import SKU_PATTERN, ULID_PATTERN
from common.vocabulary import CHANNELS, PROFILE_FIELDS

from edge import keys
from edge.members import rules
from edge.members import sql as members
from edge.db.database import Database
from edge.api.auth import require
from edge.api.params import idempotency_key
from edge.members.schemas import MEMBER_CREATE, MEMBER_IDENTITY, MEMBER_PATCH, MEMBER_VIEWED, REDEEM, TOPUP

log = logging.getLogger(__name__)
MEMBER_ID = re.compile(ULID_PATTERN)
# lookup query parameter -> identity kind
LOOKUP_KINDS = {"phone": "phone", "code": "code", "unionid": "wechat_unionid"}
LOOKUP_NOTICE_EVERY_S = 60.0
LOOKUP_NOTICE_BATCH_S = 0.5
# an identity the store does not know, while it is connected: ask HQ (member.sought) at most
# this often per identity, and wait this long for the answer (the member, or member.unknown)
SOUGHT_EVERY_S = 10.0
SOUGHT_WAIT_S = 3.0
SOUGHT_POLL_S = 0.05
MAX_RECO_SKUS = 20


class LookupNotices:
    """``member.lookup`` events (HQ grants leases on them). They do not delay the till: the
    answer goes out at once and the notices of half a second are written together in one
    transaction; at most one per member a minute."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, float] = {}
        self._pending: list[str] = []
        self._sought: dict[str, tuple[float, str]] = {}  # idhash -> (when, asked_at)

    def asked(self, idhash: str) -> str | None:
        """When HQ was asked about ``idhash`` (``member.sought``) in the last
        ``SOUGHT_EVERY_S``: a till's retry waits for that answer, it does not ask again."""
        found = self._sought.get(idhash)
        if found is None or time.monotonic() - found[0] >= SOUGHT_EVERY_S:
            return None
        return found[1]

    def ask(self, idhash: str, asked_at: str) -> None:
        if len(self._sought) > 10_000:
            self._sought.clear()
        self._sought[idhash] = (time.monotonic(), asked_at)

    def note(self, db: Database, member: str) -> None:
        now = time.monotonic()
        if now - self._last.get(member, -LOOKUP_NOTICE_EVERY_S) < LOOKUP_NOTICE_EVERY_S:
            return
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[member] = now
        self._pending.append(member)
        if len(self._pending) == 1:
            task = asyncio.create_task(self._flush(db, LOOKUP_NOTICE_BATCH_S))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _flush(self, db: Database, after_s: float = 0.0) -> None:
        await asyncio.sleep(after_s)
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await db.write(members.record_lookups, batch)
        except Exception as exc:  # a lost notice costs a lease top-up, never a sale
            log.warning("%d member.lookup events not recorded: %s", len(batch), exc)

    async def drain(self, app: web.Application) -> None:
        """Write what is pending now (on_shutdown: before the database closes)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._flush(app[keys.DB])


def setup(app: web.Application) -> None:
    app[keys.MEMBER_LOOKUPS] = notices = LookupNotices()
    app.on_shutdown.append(notices.drain)


def _tenant_key(request: web.Request) -> bytes:
    key = members.load_key(request.app[keys.SETTINGS].data_dir)
    if key is None:
        raise ApiError(503, "members_unavailable",
                       "the store has no tenant key yet: it arrives from HQ with the first sync")
    return key


def _request_hash(kind: str, body: Any) -> str:
    return hashlib.sha256(f"{kind}:{json.dumps(body, sort_keys=True)}".encode()).hexdigest()


def _member_id(request: web.Request) -> str:
    member = request.match_info["id"]
    if not MEMBER_ID.match(member):
        raise NotFound("unknown_member", {"member": member[:64]})
    return member


def _identity(tenant_key: bytes, param: str, value: str) -> dict[str, Any]:
    """``{kind, idhash, last4?}`` of a raw identifier; a phone is normalised first."""
    return rules.identity(tenant_key, LOOKUP_KINDS[param], value)


async def lookup(request: web.Request) -> web.Response:
    require(request, "members.read")
    given = [(p, request.query[p]) for p in LOOKUP_KINDS if request.query.get(p)]
    if len(given) != 1 or not 1 <= len(given[0][1]) <= 64:
        raise ApiError(400, "invalid_query", {"send exactly one of": list(LOOKUP_KINDS),
                                              "max_length": 64})
    tenant_key = _tenant_key(request)
    identity = _identity(tenant_key, *given[0])
    channel = request.query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise ApiError(400, "invalid_query", {"channel": channel[:64], "allowed": list(CHANNELS)})
    db = request.app[keys.DB]
    view = await db.read(_lookup, identity["idhash"], channel)
    asked = False
    if view is None:
        asked, view = await _ask_hq(request.app, identity, channel)
    if view is None:
        raise NotFound("unknown_member", {"kind": identity["kind"], "asked_hq": asked})
    request.app[keys.MEMBER_LOOKUPS].note(db, view["id"])
    return web.json_response(view)


async def _ask_hq(app: web.Application, identity: dict[str, Any], channel: str | None
                  ) -> tuple[bool, dict[str, Any] | None]:
    """An identity this store does not know: a member of another store, perhaps (with HQ's
    ``followers`` fan-out a store has only the members it met). While the store is connected,
    ask HQ (``member.sought``) and wait up to ``SOUGHT_WAIT_S`` for the member to arrive in
    the feed, or for HQ's ``member.unknown``. (whether HQ was asked, the member or None)"""
    sync = app.get(keys.SYNC)
    if sync is None or not sync.connected:
        return False, None
    db, notices, idhash = app[keys.DB], app[keys.MEMBER_LOOKUPS], identity["idhash"]
    asked_at = notices.asked(idhash)
    if asked_at is None:
        asked_at = await db.write(members.record_sought, identity)
        notices.ask(idhash, asked_at)
    deadline = time.monotonic() + SOUGHT_WAIT_S
    while time.monotonic() < deadline:
        await asyncio.sleep(SOUGHT_POLL_S)
        view, unknown = await db.read(_answer, idhash, channel, asked_at)
        if view is not None or unknown:
            return True, view
    return True, None


def _answer(conn: Any, idhash: str, channel: str | None, asked_at: str
            ) -> tuple[dict[str, Any] | None, bool]:
    view = _lookup(conn, idhash, channel)
    return view, view is None and members.hq_said_unknown(conn, idhash, asked_at)


def _lookup(conn: Any, idhash: str, channel: str | None) -> dict[str, Any] | None:
    member = members.by_idhash(conn, idhash)
    return members.member_view(conn, member, channel=channel) if member else None


async def create(request: web.Request) -> web.Response:
    require(request, "members.write")
    key = idempotency_key(request)
    body = await read_body(request, MEMBER_CREATE)
    tenant_key = _tenant_key(request)
    identities = [_identity(tenant_key, p, body[p]) for p in LOOKUP_KINDS if p in body]
    profile = {f: body[f] for f in PROFILE_FIELDS if body.get(f) is not None}
    rules.check_profile(profile)  # e.g. a birthday of a real month and day (02-30 is not)
    # hashed, never the raw identifiers: the request hash is stored with the key
    referral = normal(body["referral"]) if "referral" in body else None
    req_hash = _request_hash("create", {"profile": profile, "identities": identities,
                                        **({"referral": referral} if referral else {})})
    view, replayed = await request.app[keys.DB].write(
        members.create_member, profile, identities, key, req_hash, referral)
    return web.json_response(view, status=200 if replayed else 201)


async def add_identity(request: web.Request) -> web.Response:
    """Another identifier of a member: 201 when added, 200 when the member already had it
    (no event) or on a replay; 409 ``identity_taken`` when another member has it."""
    require(request, "members.write")
    member = _member_id(request)
    key = idempotency_key(request)
    body = await read_body(request, MEMBER_IDENTITY)
    tenant_key = _tenant_key(request)
    rules.check_identity_value(body["kind"], body["value"])
    identity = rules.identity(tenant_key, body["kind"], body["value"])
    req_hash = _request_hash(f"identity:{member}", identity)  # hashed, never the raw value
    view, added = await request.app[keys.DB].write(
        members.add_identity, member, identity, key, req_hash)
    return web.json_response(view, status=201 if added else 200)


async def patch_profile(request: web.Request) -> web.Response:
    require(request, "members.write")
    member = _member_id(request)
    key = idempotency_key(request)
    body = await read_body(request, MEMBER_PATCH)
    _tenant_key(request)
    rules.check_profile(body)
    view, _replayed = await request.app[keys.DB].write(
        members.change_profile, member, body, key, _request_hash(f"profile:{member}", body))
    return web.json_response(view)


async def viewed(request: web.Request) -> web.Response:
    """``member.viewed`` for HQ's viewed-not-bought trigger; nothing else is written."""
    require(request, "members.write")
    member = _member_id(request)
    body = await read_body(request, MEMBER_VIEWED)
    _tenant_key(request)
    skus = list(dict.fromkeys(body["skus"]))  # a repeated SKU counts once
    data = await request.app[keys.DB].write(members.record_view, member, skus)
    return web.json_response(data, status=202)


async def consents(request: web.Request) -> web.Response:
    """``PUT /api/v1/members/{id}/consents {"marketing"?, "profiling"?}``: to HQ."""
    require(request, "members.write")
    member = _member_id(request)
    body = await read_body(request, CONSENTS)
    data = await request.app[keys.DB].write(members.record_consents, member, body, "till")
    return web.json_response(data, status=202)


async def redeem(request: web.Request) -> web.Response:
    require(request, "members.write")

    def spend(body: dict[str, Any]) -> tuple[Any, ...]:
        if "points" in body:
            return "points", body["points"], body.get("order_id")
        return "value", body["value_cents"], body.get("order_id")

    return await _ledger_request(request, REDEEM, members.redeem, spend)


async def topup(request: web.Request) -> web.Response:
    require(request, "members.topup")
    return await _ledger_request(request, TOPUP, members.topup,
                                 lambda body: (body["value_cents"], body["tender"]))


async def _ledger_request(request: web.Request, schema: dict[str, Any], job: Callable[..., Any],
                          args: Callable[[dict[str, Any]], tuple[Any, ...]]) -> web.Response:
    """A spend or a top-up: ``job(tx, member, *args(body), key, request_hash)``."""
    member = _member_id(request)
    key = idempotency_key(request)
    body = await read_body(request, schema)
    _tenant_key(request)
    answer, replayed = await request.app[keys.DB].write(
        job, member, *args(body), key, _request_hash(f"{job.__name__}:{member}", body))
    return web.json_response(answer, status=200 if replayed else 201)


async def recommendations(request: web.Request) -> web.Response:
    require(request, "catalog.read")
    skus = [s for s in request.query.get("skus", "").split(",") if s]
    if not 1 <= len(skus) <= MAX_RECO_SKUS or not all(SKU_PATTERN.match(s) for s in skus):
        raise ApiError(400, "invalid_query",
                       {"skus": f"1 to {MAX_RECO_SKUS} SKUs, comma-separated"})
    found = await request.app[keys.DB].read(members.recommendations, sorted(set(skus)))
    return web.json_response({"skus": skus, "recommendations": found})
