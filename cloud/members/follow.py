"""Which stores a member's changes go to (docs/members.md, "Followers").

``hq_settings`` key ``members.fanout`` says how HQ sends ``member.upsert``, ``member.merged``
and ``ledger.entry``:

- ``tenant`` (the default): to every store of the tenant. Every store knows every member, and
  each member event costs one change per store: right for a few hundred stores.
- ``followers``: to the stores that follow the member (``member_followers``): the store that
  made it, and every store that looked it up, sought it, changed it or wrote a ledger entry for
  it. A store that starts following gets the member's state (its ``member.upsert`` and every
  ledger entry) in its feed; a till that does not know a member asks HQ with
  ``member.sought`` (the edge waits a moment for the answer). A merge makes the survivor's
  followers the union of both, each sent what it lacked. A chain of thousands of stores needs
  this: a member event then costs a change for each store the member visits, not for each store
  of the chain (docs/scale.md).

Switching to ``followers`` makes followers of every store a member has been seen at (origin,
leases, ledger entries and orders of the last 90 days). ``member.erased`` still goes to every
store of the tenant, and coupons to their scope, in both modes.

Everything runs inside the caller's write transaction with the tenant's member lock held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from cloud.db.backend import Backend
from cloud.db.schema import UPSERT_SETTING
from cloud.feed.changes import chunks, queue_many, where_in
from cloud.feed.fanout import queue
from common.clock import iso, utc_now
from common.vocabulary import PROFILE_FIELDS

if TYPE_CHECKING:  # sql.py uses this module
    from cloud.members.sql import Ctx

FANOUT_KEY: Final = "members.fanout"  # hq_settings key
TENANT: Final = "tenant"
FOLLOWERS: Final = "followers"
MODES: Final = (TENANT, FOLLOWERS)
ENTRY_FIELDS: Final = ("entry_id", "member", "account", "kind", "amount", "store", "order_id",
                       "lease_id", "at", "hlc")
_FOLLOW: Final = ("INSERT INTO member_followers(member, store, since, seen) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
# a follower looked the member up again: written at most once a day a pair
_SEEN_AGAIN: Final = ("UPDATE member_followers SET seen = ? WHERE member = ? AND store = ? AND "
                      "COALESCE(seen, since) < ?")
_PROFILE_AND_HLCS: Final = ", ".join(f"{f}, {f}_hlc" for f in PROFILE_FIELDS)
# every store a member has been seen at: made there, a lease, a ledger entry or an order in
# the last SEEN_DAYS (older visits: the store follows again at its next lookup of the member)
SEEN_DAYS: Final = 90
_SEEN: Final = """
    INSERT INTO member_followers(member, store, since)
    SELECT DISTINCT s.member, s.store, ? FROM (
        SELECT id AS member, origin AS store FROM members
        UNION SELECT member, store FROM ledger WHERE at >= ?
        UNION SELECT member, store FROM orders WHERE member IS NOT NULL AND created_at >= ?
        UNION SELECT member, store FROM leases
    ) s
    JOIN members m ON m.id = s.member AND m.merged_into IS NULL
    JOIN stores t ON t.store = s.store AND t.tenant = m.tenant
    ON CONFLICT DO NOTHING"""


def mode(db: Backend) -> str:
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?", (FANOUT_KEY,)).fetchone()
    return TENANT if row is None else str(row[0])


def set_mode(db: Backend, wanted: str) -> dict[str, Any]:
    """Switch the member fan-out (in the caller's write transaction); ``{mode, was,
    followers_added}``. Switching to ``followers`` makes every store a member was seen at one
    of its followers: where it was made or holds a lease, where it had a ledger entry or an
    order in the last ``SEEN_DAYS`` (the other stores keep what they were sent until they
    look it up)."""
    if wanted not in MODES:
        raise ValueError(f"members.fanout must be one of {', '.join(MODES)}")
    was, added = mode(db), 0
    if wanted == FOLLOWERS and was != FOLLOWERS:
        now = utc_now()
        since = iso(now - timedelta(days=SEEN_DAYS))
        added = int(db.execute(_SEEN, (iso(now), since, since)).rowcount or 0)
    db.execute(UPSERT_SETTING, (FANOUT_KEY, wanted))
    return {"mode": wanted, "was": was, "followers_added": added}


def followers(db: Backend, member: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT store FROM member_followers WHERE member = ? "
                                     "ORDER BY store", (member,)).fetchall()]


def upsert_data(db: Backend, member: str) -> dict[str, Any]:
    """The ``member.upsert`` change of ``member``: profile and identities."""
    row = db.rows(f"SELECT id, {_PROFILE_AND_HLCS} FROM members WHERE id = ?", (member,))[0]
    hlcs = [h for h in (row.pop(f"{f}_hlc") for f in PROFILE_FIELDS) if h]
    idents = db.rows("SELECT kind, idhash, last4 FROM member_identities WHERE member = ? "
                     "ORDER BY idhash", (member,))
    return {"member": {**row, "hlc": max(hlcs, default=None)}, "identities": idents}


def member_changes(db: Backend, members: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """The ``member.upsert`` of each of ``members``, a ``member.merged`` for each member merged
    into one of them (a store's stale copy of one lands on the survivor) and all their ledger
    entries (in HLC order): what a store needs to show them and their balances."""
    found: list[tuple[str, dict[str, Any]]] = [("member.upsert", upsert_data(db, m))
                                               for m in members]
    entries: list[dict[str, Any]] = []
    for part in chunks(members):
        found += [("member.merged", {"from": loser, "into": into}) for loser, into in db.execute(
            f"SELECT id, merged_into FROM members WHERE {where_in(part, 'merged_into')} "
            "ORDER BY id", list(part)).fetchall()]
        entries += db.rows(f"SELECT {', '.join(ENTRY_FIELDS)} FROM ledger "
                           f"WHERE {where_in(part, 'member')}", list(part))
    entries.sort(key=lambda e: (e["hlc"], e["entry_id"]))
    return found + [("ledger.entry", entry) for entry in entries]


def welcome(ctx: Ctx, member: str, store: str) -> None:
    """Queue ``member``'s state to ``store`` (which starts following it, or asked for it)."""
    queue_many(ctx.db, ctx.tenant, member_changes(ctx.db, [member]), stores=[store])


def follow(ctx: Ctx, member: str, *, welcome_new: bool = True) -> bool:
    """Make the event's store a follower of ``member`` (a survivor) in ``followers`` mode;
    whether it is a new one (then sent the member's state, unless ``welcome_new`` is False:
    the store made the member)."""
    if ctx.store is None or ctx.fanout != FOLLOWERS:
        return False
    if not ctx.db.execute(_FOLLOW, (member, ctx.store, ctx.now, ctx.now)).rowcount:
        return False
    if welcome_new:
        welcome(ctx, member, ctx.store)
    return True


def seen(ctx: Ctx, member: str) -> None:
    """The event's store looked ``member`` up (it follows it: ``follow`` came first): it keeps
    following it (``prune``)."""
    if ctx.store is not None and ctx.fanout == FOLLOWERS:
        day_before = iso(datetime.fromisoformat(ctx.now) - timedelta(days=1))
        ctx.db.execute(_SEEN_AGAIN, (ctx.now, member, ctx.store, day_before))


def prune(db: Backend, before: str) -> int:
    """Stop the followings not looked up since ``before`` (nor made since): how many. The
    store keeps what it was sent; its next lookup of the member follows it again and sends it
    the member's state."""
    return int(db.execute("DELETE FROM member_followers WHERE COALESCE(seen, since) < ?",
                          (before,)).rowcount or 0)


def send(ctx: Ctx, member: str, type_: str, data: dict[str, Any],
         exclude: str | None = None) -> None:
    """Queue a change about ``member`` to its stores: the tenant's, or its followers."""
    if ctx.fanout != FOLLOWERS:
        queue(ctx.db, ctx.tenant, type_, data, exclude=exclude)
        return
    stores = [s for s in followers(ctx.db, member) if s != exclude]
    if stores:
        queue(ctx.db, ctx.tenant, type_, data, stores=stores)


def merged(ctx: Ctx, loser: str, into: str) -> list[str]:
    """A merge in ``followers`` mode: the survivor's followers become the union of both; the
    stores that followed only one of them (they lack the other's entries), sorted."""
    if ctx.fanout != FOLLOWERS:
        return []
    a, b = set(followers(ctx.db, loser)), set(followers(ctx.db, into))
    ctx.db.execute("INSERT INTO member_followers(member, store, since) SELECT ?, store, since "
                   "FROM member_followers WHERE member = ? ON CONFLICT DO NOTHING", (into, loser))
    ctx.db.execute("DELETE FROM member_followers WHERE member = ?", (loser,))
    return sorted(a ^ b)
