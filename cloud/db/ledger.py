"""Member ledgers at HQ (docs/members.md, "Ledgers" and "Offline allowance"): append-only
entries with unique ids, balances as sums, leases granted to online stores, and expiry.

Runs inside the caller's write transaction with the tenant's member lock held.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from edge.store.clock import iso
from edge.store.ids import new_ulid
from sync.hlc import format_hlc

from .backend import Backend
from .fanout import queue
from .members import Ctx, MemberError, conflict, hlc, require

ACCOUNTS: Final[dict[str, frozenset[str]]] = {
    "points": frozenset({"earn", "redeem", "expire", "adjust"}),
    "value": frozenset({"topup", "spend", "refund", "adjust"}),
}
ENTRY_COLUMNS: Final = ("entry_id", "tenant", "member", "original_member", "account", "kind",
                        "amount", "store", "order_id", "lease_id", "at", "hlc", "note")
_BIG: Final = 1 << 62
POLICY_KEY: Final = "members.leases"


@dataclass(frozen=True)
class LeasePolicy:
    """Caps of what HQ leases to a store for one member (points; value in fen)."""

    lease_points: int = 1000
    lease_value: int = 50_000
    per_txn_points: int = 500
    per_txn_value: int = 20_000
    lease_ttl_s: int = 86_400


def set_policy(db: Backend, policy: LeasePolicy) -> None:
    db.execute("INSERT INTO hq_settings(key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
               "SET value = excluded.value", (POLICY_KEY, json.dumps(asdict(policy))))


def get_policy(db: Backend) -> LeasePolicy:
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?", (POLICY_KEY,)).fetchone()
    return LeasePolicy(**json.loads(row[0])) if row else LeasePolicy()


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > 200):
        raise MemberError(f"{key} of the wrong type")
    return value


def parse_entry(data: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry as sent by a store; MemberError when it has not the documented shape."""
    entry: dict[str, Any] = {}
    for key in ("entry_id", "member", "account", "kind", "at", "hlc"):
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise MemberError(f"{key} missing or of the wrong type")
        entry[key] = value
    if entry["kind"] not in ACCOUNTS.get(entry["account"], ()):
        raise MemberError(f"kind {entry['kind']!r} is not one of account {entry['account']!r}")
    amount = data.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not -_BIG < amount < _BIG:
        raise MemberError("amount missing or not an integer")
    entry["hlc"], entry["amount"] = hlc(data), amount
    for key in ("order_id", "lease_id", "note"):
        entry[key] = _opt_str(data, key)
    return entry


def add_entry(ctx: Ctx, entry: dict[str, Any]) -> bool:
    """Insert ``entry`` once (by entry_id) and forward it to every other store of the tenant;
    a balance below zero afterwards is an ``overspend`` conflict. Whether it was new."""
    member = require(ctx, entry["member"])
    row = {**entry, "tenant": ctx.tenant, "original_member": entry["member"], "member": member,
           "store": ctx.store}
    inserted = ctx.db.execute(
        f"INSERT INTO ledger({', '.join(ENTRY_COLUMNS)}) VALUES "
        f"({', '.join('?' * len(ENTRY_COLUMNS))}) ON CONFLICT DO NOTHING",
        [row[c] for c in ENTRY_COLUMNS]).rowcount
    if not inserted:
        return False
    sent = {k: row[k] for k in ("entry_id", "member", "account", "kind", "amount", "store",
                                "order_id", "lease_id", "at", "hlc")}
    queue(ctx.db, ctx.tenant, "ledger.entry", sent, exclude=ctx.store)
    balance = balances(ctx.db, member)[entry["account"]]
    if balance < 0:
        conflict(ctx, "overspend", {
            "member": member, "account": entry["account"], "balance": balance,
            "entry_id": entry["entry_id"], "amount": entry["amount"], "kind": entry["kind"],
            "lease_id": entry["lease_id"], "order_id": entry["order_id"],
            "leases": live_leases(ctx.db, member, ctx.now)})
    return True


def balances(db: Backend, member: str) -> dict[str, int]:
    found = dict.fromkeys(ACCOUNTS, 0)
    for account, total in db.execute("SELECT account, SUM(amount) FROM ledger WHERE member = ? "
                                     "GROUP BY account", (member,)).fetchall():
        found[account] = int(total)
    return found


def live_leases(db: Backend, member: str, now: str) -> list[dict[str, Any]]:
    """Unrevoked, unexpired leases of ``member`` with what is left of each."""
    leases = db.rows("SELECT lease_id, store, points, value, expires_at FROM leases "
                     "WHERE member = ? AND revoked = 0 AND expires_at > ? ORDER BY lease_id",
                     (member, now))
    for lease in leases:
        used = dict(db.execute("SELECT account, SUM(amount) FROM ledger WHERE lease_id = ? "
                               "AND amount < 0 GROUP BY account",
                               (lease["lease_id"],)).fetchall())
        lease["remaining_points"] = max(0, int(lease["points"]) + int(used.get("points") or 0))
        lease["remaining_value"] = max(0, int(lease["value"]) + int(used.get("value") or 0))
    return leases


def grant_lease(ctx: Ctx, member: str) -> dict[str, Any] | None:
    """Grant or top up ``ctx.store``'s lease for ``member`` (the store is online).

    What is left of the other stores' live leases plus the new lease never exceeds the
    balance now: the new lease is min(cap, balance − others' remaining), per account.
    """
    assert ctx.store is not None
    policy, survivor = get_policy(ctx.db), require(ctx, member)
    balance, leases = balances(ctx.db, survivor), live_leases(ctx.db, survivor, ctx.now)
    mine = [lease for lease in leases if lease["store"] == ctx.store]
    others = [lease for lease in leases if lease["store"] != ctx.store]
    points = max(0, min(policy.lease_points,
                        balance["points"] - sum(x["remaining_points"] for x in others)))
    value = max(0, min(policy.lease_value,
                       balance["value"] - sum(x["remaining_value"] for x in others)))
    if [(x["remaining_points"], x["remaining_value"]) for x in mine] == [(points, value)]:
        return None  # already what it would be
    if not mine and points == value == 0:
        return None
    for lease in mine:
        ctx.db.execute("UPDATE leases SET revoked = 1 WHERE lease_id = ?", (lease["lease_id"],))
        queue(ctx.db, ctx.tenant, "lease.revoked", {"lease_id": lease["lease_id"]},
              stores=[ctx.store])
    expires = _plus(ctx.now, policy.lease_ttl_s)
    lease = {"lease_id": new_ulid(), "member": survivor, "points": points, "value": value,
             "per_txn_points": min(policy.per_txn_points, points),
             "per_txn_value": min(policy.per_txn_value, value), "expires_at": expires}
    ctx.db.execute("INSERT INTO leases(lease_id, tenant, member, store, points, value, "
                   "per_txn_points, per_txn_value, granted_at, expires_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (lease["lease_id"], ctx.tenant, survivor, ctx.store, points, value,
                    lease["per_txn_points"], lease["per_txn_value"], ctx.now, expires))
    queue(ctx.db, ctx.tenant, "lease.granted", lease, stores=[ctx.store])
    return lease


def _parse_at(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plus(at: str, seconds: int) -> str:
    return iso(_parse_at(at) + timedelta(seconds=seconds))


def hq_entry(ctx: Ctx, member: str, account: str, kind: str, amount: int,
             note: str | None = None) -> dict[str, Any]:
    """An entry made by HQ (adjust, top-up, expire); inserted and sent to every store."""
    moment = _parse_at(ctx.now)
    entry = {"entry_id": new_ulid(), "member": member, "account": account, "kind": kind,
             "amount": amount, "order_id": None, "lease_id": None, "at": ctx.now,
             "hlc": format_hlc(int(moment.timestamp() * 1000), 0), "note": note}
    add_entry(ctx, entry)
    return {**entry, "member": require(ctx, member), "store": None}


def months_before(now: str, months: int) -> str:
    moment = _parse_at(now)
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    day = min(moment.day, 28)
    return iso(moment.replace(year=year, month=month + 1, day=day))


def expire(ctx: Ctx, cutoff: str) -> list[dict[str, Any]]:
    """Expire the tenant's points earned before ``cutoff`` and not yet used (FIFO: spends and
    earlier expiries use the oldest points first). Running it again expires nothing more."""
    rows = ctx.db.execute(
        "SELECT member, SUM(CASE WHEN amount > 0 AND at < ? THEN amount ELSE 0 END), "
        "SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END) FROM ledger "
        "WHERE tenant = ? AND account = 'points' GROUP BY member ORDER BY member",
        (cutoff, ctx.tenant)).fetchall()
    made = []
    for member, old, used in rows:
        due = int(old) - int(used)
        if due > 0:
            made.append(hq_entry(ctx, member, "points", "expire", -due,
                                 note=f"earned before {cutoff}"))
    return made
