"""Member ledgers at HQ (docs/members.md, "Ledgers" and "Offline allowance"): append-only
entries with unique ids, balances as sums, and expiry (leases: ``leases.py``).

Runs inside the caller's write transaction with the tenant's member lock held.
"""

from __future__ import annotations

from typing import Any, Final

from cloud.members import follow, leases
from cloud.members.sql import (
    Ctx,
    MemberError,
    balances,
    conflict,
    hlc,
    parse_at,
    require,
)
from common.clock import iso
from common.ids import new_ulid
from common.vocabulary import ENTRY_KINDS
from sync.hlc import format_hlc

# account -> the kinds of ledger entry on it (common vocabulary)
ACCOUNTS: Final[dict[str, frozenset[str]]] = {a: frozenset(k) for a, k in ENTRY_KINDS.items()}
ENTRY_COLUMNS: Final = ("entry_id", "tenant", "member", "original_member", "account", "kind",
                        "amount", "store", "order_id", "lease_id", "at", "hlc", "note")
_BIG: Final = 1 << 62


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
    """Insert ``entry`` once (by entry_id) and forward it to the member's other stores;
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
    sent = {k: row[k] for k in follow.ENTRY_FIELDS}
    follow.follow(ctx, member)  # a store that had not followed it: stale, sent its state
    follow.send(ctx, member, "ledger.entry", sent, exclude=ctx.origin)
    balance = balances(ctx.db, member)[entry["account"]]
    if balance < 0:
        conflict(ctx, "overspend", {
            "member": member, "account": entry["account"], "balance": balance,
            "entry_id": entry["entry_id"], "amount": entry["amount"], "kind": entry["kind"],
            "lease_id": entry["lease_id"], "order_id": entry["order_id"],
            "leases": leases.outstanding(ctx.db, member, ctx.now)})
    if entry["lease_id"] is not None:
        leases.mark_unsettled(ctx, entry["lease_id"])
    return True


def hq_entry(ctx: Ctx, member: str, account: str, kind: str, amount: int,
             note: str | None = None) -> dict[str, Any]:
    """An entry made by HQ (adjust, top-up, expire); inserted and sent to the member's stores. The
    balance changed: the online stores' leases move towards their new shares (a debit that
    leaves the leases counting more than the balance shrinks them, a credit tops them up)."""
    moment = parse_at(ctx.now)
    entry = {"entry_id": new_ulid(), "member": member, "account": account, "kind": kind,
             "amount": amount, "order_id": None, "lease_id": None, "at": ctx.now,
             "hlc": format_hlc(int(moment.timestamp() * 1000), 0), "note": note}
    add_entry(ctx, entry)
    survivor = require(ctx, member)
    leases.rebalance(ctx, survivor)
    return {**entry, "member": survivor, "store": None}


def months_before(now: str, months: int) -> str:
    moment = parse_at(now)
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
