"""Members at HQ (docs/members.md): the tenant key, members and their identities, One-ID
merges and profile fields (last-writer-wins by HLC per field).

Every function runs inside the caller's write transaction. Member work of one tenant is
serialised by ``lock_tenant`` (a PostgreSQL advisory lock; SQLite's write lock already
serialises everything), so two stores creating the same phone at once still merge.
Changes to stores are queued with ``fanout.queue`` and appended after the commit.
"""

from __future__ import annotations

import base64
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import advance, compact_json, lock_stores, record
from cloud.members import follow
from cloud.members.follow import upsert_data
from common.schemas import PROFILE
from common.vocabulary import ID_KINDS, PROFILE_FIELDS
from sync.hlc import parse_hlc

MEMBERS_LOCK: Final = 7_305_003  # first key of pg_advisory_xact_lock(int, int)
TENANT_KEY: Final = "tenant.key"
KINDS: Final = ID_KINDS
IDHASH: Final = re.compile(r"^[0-9a-f]{64}$")
LAST4: Final = re.compile(r"^[0-9]{4}$")
# profile field -> its pattern (common.schemas.PROFILE); the columns with their HLCs
_PATTERNS: Final = {f: re.compile(p["pattern"]) for f, p in PROFILE.items() if "pattern" in p}
_PROFILE_AND_HLCS: Final = ", ".join(f"{f}, {f}_hlc" for f in PROFILE_FIELDS)
_MAX_CHAIN: Final = 32
# tables whose ``member`` column a merge re-points at the survivor
MEMBER_COLUMNS: Final = ("member_identities", "ledger", "coupons", "leases", "lease_log",
                         "member_views", "orders", "campaign_visits", "order_attributions")


class MemberError(ValueError):
    """Member data that does not have the documented shape."""


@dataclass
class Ctx:
    """Where member work happens: the tenant, the store that sent the event (None: HQ)."""

    db: Backend
    tenant: str
    store: str | None
    now: str
    # the events come from a superseded box of ``store``: what they change goes to the
    # store's current box too, not only to the others (ARCHITECTURE §4e)
    superseded: bool = False
    # hq_settings 'members.fanout' (follow.py), read once when a change is first sent
    fanout_mode: str | None = None

    @property
    def fanout(self) -> str:
        if self.fanout_mode is None:
            self.fanout_mode = follow.mode(self.db)
        return self.fanout_mode

    @property
    def origin(self) -> str | None:
        """The store a change need not go back to (it made it)."""
        return None if self.superseded else self.store


def lock_tenant(db: Backend, tenant: str) -> None:
    if db.name == "postgresql":
        key = zlib.crc32(tenant.encode()) - (1 << 31)  # an int4
        db.execute("SELECT pg_advisory_xact_lock(?, ?)", (MEMBERS_LOCK, key))


def conflict(ctx: Ctx, kind: str, detail: dict[str, Any]) -> None:
    db_store = ctx.store or "hq"
    ctx.db.execute("INSERT INTO conflicts(store, kind, detail, created_at) VALUES (?, ?, ?, ?)",
                   (db_store, kind, compact_json(detail), ctx.now))


# -- the tenant key -------------------------------------------------------------------
def tenant_key(db: Backend, tenant: str) -> str:
    """The tenant's key (base64 of 32 bytes), made on first use."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    db.execute("INSERT INTO tenant_keys(tenant, key, created_at) VALUES (?, ?, ?) "
               "ON CONFLICT DO NOTHING", (tenant, key, utc_now_iso()))
    (stored,) = db.execute("SELECT key FROM tenant_keys WHERE tenant = ?", (tenant,)).fetchone()
    return str(stored)


def send_tenant_key(db: Backend, store: str, tenant: str) -> int:
    """Append ``tenant.key`` to ``store``'s feed (row locked by the caller); its cursor."""
    cursor = advance(db, [store])[store]
    record(db, [(store, cursor, TENANT_KEY, TENANT_KEY, {"key": tenant_key(db, tenant)})])
    return cursor


def ensure_tenant_keys(db: Backend) -> dict[str, int]:
    """Stores provisioned before members: append ``tenant.key`` where it is missing."""
    missing_sql = ("SELECT store, tenant FROM stores WHERE store NOT IN (SELECT store FROM "
                   "feed_state WHERE kind = ?) ORDER BY store")
    if not db.execute(missing_sql, (TENANT_KEY,)).fetchall():
        return {}
    cursors: dict[str, int] = {}
    with db.write():
        lock_stores(db, None)
        for store, tenant in db.execute(missing_sql, (TENANT_KEY,)).fetchall():
            cursors[store] = send_tenant_key(db, store, tenant)
    return cursors


# -- members and identities -------------------------------------------------------------
def resolve(db: Backend, member: str) -> str:
    """The surviving member of ``member`` (itself unless it was merged)."""
    for _ in range(_MAX_CHAIN):
        row = db.execute("SELECT merged_into FROM members WHERE id = ?", (member,)).fetchone()
        if row is None or row[0] is None:
            return member
        member = row[0]
    return member


def merged_ids(db: Backend, survivor: str) -> list[str]:
    """The survivor and every member merged into it (directly or through another)."""
    ids, frontier = [survivor], [survivor]
    while frontier and len(ids) < 100:
        marks = ",".join("?" * len(frontier))
        frontier = [r[0] for r in db.execute(
            f"SELECT id FROM members WHERE merged_into IN ({marks})", frontier).fetchall()
            if r[0] not in ids]
        ids += frontier
    return ids


def tenant_of(db: Backend, member: str) -> str | None:
    row = db.execute("SELECT tenant FROM members WHERE id = ?", (member,)).fetchone()
    return None if row is None else str(row[0])


def _text(data: dict[str, Any], key: str, optional: bool = False,
          pattern: re.Pattern[str] | None = None, limit: int = 200) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MemberError(f"{key} missing or of the wrong type")
    if pattern is not None and not pattern.match(value):
        raise MemberError(f"{key} is not valid")
    return value


def hlc(data: dict[str, Any]) -> str:
    value: str = _text(data, "hlc", limit=40)
    try:
        parse_hlc(value)
    except ValueError as exc:
        raise MemberError(str(exc)) from exc
    return value


def identity(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MemberError("identity is not an object")
    kind = _text(data, "kind")
    if kind not in KINDS:
        raise MemberError(f"unknown identity kind {kind[:40]!r}")
    return {"kind": kind, "idhash": _text(data, "idhash", pattern=IDHASH),
            "last4": _text(data, "last4", optional=True, pattern=LAST4)}


def create(ctx: Ctx, member: dict[str, Any], identities: list[Any]) -> bool:
    """``member.created``: insert the member once, then its identities (may merge: then
    True, the "new" member was a known one)."""
    member_id, written = _text(member, "id"), hlc(member)
    fields = profile(member)
    found = [identity(i) for i in identities]
    new = ctx.db.execute("INSERT INTO members(id, tenant, origin, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         (member_id, ctx.tenant, member.get("origin") or ctx.store,
                          _text(member, "created_at"), ctx.now)).rowcount
    set_fields(ctx.db, member_id, {k: (v, written) for k, v in fields.items()})
    # the store that made it follows it (a merge below hands it on to the survivor)
    if ctx.fanout == follow.FOLLOWERS:
        follow.follow(ctx, resolve(ctx.db, member_id), welcome_new=not new)
    merged = [m for i in found if (m := add_identity(ctx, member_id, i))]
    if not merged:
        follow.send(ctx, member_id, "member.upsert", upsert_data(ctx.db, member_id),
                    exclude=ctx.origin)
    return bool(merged)


def profile(data: dict[str, Any]) -> dict[str, Any]:
    """The profile fields ``data`` has, each checked against its schema (common.schemas)."""
    return {field: _text(data, field, optional=True, pattern=_PATTERNS.get(field),
                         limit=PROFILE[field].get("maxLength", 200))
            for field in PROFILE_FIELDS if field in data}


def require(ctx: Ctx, member: str) -> str:
    """The survivor of ``member``; MemberError unless it is a member of this tenant."""
    survivor = resolve(ctx.db, member)
    if tenant_of(ctx.db, survivor) != ctx.tenant:
        raise MemberError("unknown member")
    return survivor


def holder_of(ctx: Ctx, idhash: str) -> str | None:
    """The member of the tenant (a survivor) that has the identity ``idhash``, or None."""
    row = ctx.db.execute("SELECT member FROM member_identities WHERE tenant = ? AND idhash = ?",
                         (ctx.tenant, idhash)).fetchone()
    return None if row is None else resolve(ctx.db, row[0])


def add_identity(ctx: Ctx, member: str, ident: dict[str, Any]) -> tuple[str, str] | None:
    """Attach ``ident`` to ``member``; when another member has it, merge (from, into)."""
    survivor = require(ctx, member)
    holder = holder_of(ctx, ident["idhash"])
    if holder is None:
        ctx.db.execute("INSERT INTO member_identities(tenant, idhash, kind, last4, member, "
                       "added_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (ctx.tenant, ident["idhash"], ident["kind"], ident["last4"], survivor,
                        ctx.now))
        return None
    if holder == survivor:
        return None
    return merge(ctx, holder, survivor, ident["idhash"])


def merge(ctx: Ctx, a: str, b: str, idhash: str | None) -> tuple[str, str]:
    """One-ID merge: the earlier member (ULID order) survives; everything is re-pointed."""
    into, loser = sorted((a, b))
    db = ctx.db
    db.execute("UPDATE members SET merged_into = ?, updated_at = ? "
               "WHERE id = ? OR merged_into = ?", (into, ctx.now, loser, loser))
    for table in MEMBER_COLUMNS:
        db.execute(f"UPDATE {table} SET member = ? WHERE member = ?", (into, loser))
    rows = db.rows(f"SELECT {_PROFILE_AND_HLCS} FROM members WHERE id = ?", (loser,))
    if rows:
        set_fields(db, into, {f: (rows[0][f], rows[0][f"{f}_hlc"]) for f in PROFILE_FIELDS
                              if rows[0][f"{f}_hlc"] is not None})
    inserted = db.execute("INSERT INTO member_merges(tenant, from_member, into_member, idhash, "
                          "store, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (ctx.tenant, loser, into, idhash, ctx.store, ctx.now)).rowcount
    if inserted:
        lacking = follow.merged(ctx, loser, into)
        follow.send(ctx, into, "member.merged", {"from": loser, "into": into})
        follow.send(ctx, into, "member.upsert", upsert_data(db, into))
        for store in lacking:  # followed one of the two: the other's entries too
            follow.welcome(ctx, into, store)
    return loser, into


def set_fields(db: Backend, member: str, fields: dict[str, tuple[Any, str]]) -> bool:
    """Per field, keep the value with the highest HLC; whether anything changed."""
    changed = False
    for field, (value, hlc) in fields.items():
        assert field in PROFILE_FIELDS
        changed |= bool(db.execute(
            f"UPDATE members SET {field} = ?, {field}_hlc = ? WHERE id = ? "
            f"AND ({field}_hlc IS NULL OR {field}_hlc < ?)", (value, hlc, member, hlc)).rowcount)
    return changed


def change_profile(ctx: Ctx, member: str, fields: dict[str, Any], hlc: str) -> None:
    survivor = require(ctx, member)
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise MemberError(f"unknown profile fields {sorted(unknown)[:5]}")
    if set_fields(ctx.db, survivor, {k: (v, hlc) for k, v in profile(fields).items()}):
        follow.send(ctx, survivor, "member.upsert", upsert_data(ctx.db, survivor),
                    exclude=ctx.origin)


ACCOUNT_NAMES: Final = ("points", "value")  # a member's ledgers


def balances(db: Backend, member: str) -> dict[str, int]:
    found = dict.fromkeys(ACCOUNT_NAMES, 0)
    for account, total in db.execute("SELECT account, SUM(amount) FROM ledger WHERE member = ? "
                                     "GROUP BY account", (member,)).fetchall():
        found[account] = int(total)
    return found


def parse_at(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
