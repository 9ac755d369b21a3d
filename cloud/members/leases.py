"""Offline allowance at HQ (docs/members.md, "Offline allowance"): leases granted to online
stores, split fairly between them, shrunk only as far as the stores confirmed, and settled
after a reconnect.

A store holds one lease per member, amended in place: each amendment is a new ``rev`` and a
``lease_log`` row with its amounts (totals: what the store may spend against the lease in
all, its earlier spends included). A larger amount counts at once. A smaller one (a shrink,
a revoke) counts only once the store acknowledged that revision with a ``lease.acked``
event, which the edge writes in the transaction that applies the change: every spend the
store made under the old amount has a lower seq, so it is applied here before the ack. Until
then HQ counts the largest amount of the revisions from the last acknowledged one on. So the
sum of what the leases still count never exceeds the balance a grant saw, and a partition
can overspend at most what was outstanding.

Everything runs inside the caller's write transaction with the tenant's member lock held.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Final

from cloud.db.backend import Backend
from cloud.feed.fanout import queue
from cloud.members import sql as members_sql
from cloud.members.sql import Ctx, MemberError, lock_tenant
from common.clock import iso
from common.ids import new_ulid
from common.vocabulary import ACCOUNTS

POLICY_KEY: Final = "members.leases"
AMOUNT_KINDS: Final = ("granted", "grown", "shrunk", "revoked")
_COLUMNS: Final = ("lease_id, store, points, value, per_txn_points, per_txn_value, rev, "
                   "acked_rev, revoked, unsettled, granted_at, expires_at")


@dataclass(frozen=True)
class LeasePolicy:
    """What HQ leases to a store for one member (points; value in fen): at most ``lease_*``
    and ``lease_share_pct`` % of the balance per lease, and an equal part of the balance
    when several stores hold one."""

    lease_points: int = 1000
    lease_value: int = 50_000
    per_txn_points: int = 500
    per_txn_value: int = 20_000
    lease_ttl_s: int = 86_400
    lease_share_pct: int = 50


def set_policy(db: Backend, policy: LeasePolicy) -> None:
    db.execute("INSERT INTO hq_settings(key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
               "SET value = excluded.value", (POLICY_KEY, json.dumps(asdict(policy))))


def get_policy(db: Backend) -> LeasePolicy:
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?", (POLICY_KEY,)).fetchone()
    return LeasePolicy(**json.loads(row[0])) if row else LeasePolicy()


def _measure(db: Backend, lease: dict[str, Any]) -> dict[str, Any]:
    """Add what the store spent against ``lease`` (as applied here), what remains of its
    current amounts and what HQ still counts (the largest unconfirmed amount − spent)."""
    used = dict(db.execute("SELECT account, SUM(amount) FROM ledger WHERE lease_id = ? "
                           "AND amount < 0 GROUP BY account", (lease["lease_id"],)).fetchall())
    held = db.execute("SELECT MAX(points), MAX(value) FROM lease_log WHERE lease_id = ? AND "
                      f"rev >= ? AND kind IN ({', '.join('?' * len(AMOUNT_KINDS))})",
                      (lease["lease_id"], lease["acked_rev"], *AMOUNT_KINDS)).fetchone()
    for i, account in enumerate(ACCOUNTS):
        spent = -int(used.get(account) or 0)
        lease[f"used_{account}"] = spent
        lease[f"remaining_{account}"] = max(0, int(lease[account]) - spent)
        lease[f"counted_{account}"] = max(0, max(int(lease[account]), int(held[i] or 0)) - spent)
    return lease


def outstanding(db: Backend, member: str, now: str) -> list[dict[str, Any]]:
    """The unexpired leases of ``member`` that still count: live ones, and revoked ones whose
    revocation the store has not acknowledged; with ``used_*``, ``remaining_*``, ``counted_*``."""
    leases = [_measure(db, lease) for lease in db.rows(
        f"SELECT {_COLUMNS} FROM leases WHERE member = ? AND expires_at > ? ORDER BY lease_id",
        (member, now))]
    return [x for x in leases if not x["revoked"] or x["counted_points"] or x["counted_value"]]


def history(db: Backend, member: str, limit: int = 1000) -> list[dict[str, Any]]:
    """``member``'s lease log, oldest first: grants, amendments, acks and settlements."""
    rows = db.rows("SELECT lease_id, store, rev, kind, points, value, detail, at FROM lease_log "
                   "WHERE member = ? ORDER BY id LIMIT ?", (member, limit))
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows


def _log(ctx: Ctx, member: str, lease: dict[str, Any], kind: str,
         detail: dict[str, Any] | None = None) -> None:
    ctx.db.execute("INSERT INTO lease_log(tenant, member, store, lease_id, rev, kind, points, "
                   "value, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (ctx.tenant, member, lease["store"], lease["lease_id"], lease["rev"], kind,
                    lease["points"], lease["value"],
                    None if detail is None else json.dumps(detail, sort_keys=True), ctx.now))


def _online(db: Backend, stores: set[str]) -> set[str]:
    if not stores:
        return set()
    marks = ", ".join("?" * len(stores))
    return {r[0] for r in db.execute(f"SELECT store FROM stores WHERE online = 1 AND store IN "
                                     f"({marks})", sorted(stores)).fetchall()}


def _expiry(now: str, seconds: int) -> str:
    return iso(members_sql.parse_at(now) + timedelta(seconds=seconds))


def _send(ctx: Ctx, member: str, lease: dict[str, Any], ack: bool) -> None:
    """Queue ``lease.granted`` with the lease's current amounts to its store."""
    data = {k: lease[k] for k in ("lease_id", "points", "value", "per_txn_points",
                                  "per_txn_value", "expires_at", "rev")}
    queue(ctx.db, ctx.tenant, "lease.granted", {**data, "member": member, "ack": ack},
          stores=[lease["store"]])


def _grant(ctx: Ctx, member: str, store: str, plan: dict[str, int],
           policy: LeasePolicy) -> None:
    lease = {"lease_id": new_ulid(), "store": store, "rev": 1, **plan,
             "per_txn_points": min(policy.per_txn_points, plan["points"]),
             "per_txn_value": min(policy.per_txn_value, plan["value"]),
             "expires_at": _expiry(ctx.now, policy.lease_ttl_s)}
    ctx.db.execute("INSERT INTO leases(lease_id, tenant, member, store, points, value, "
                   "per_txn_points, per_txn_value, granted_at, expires_at, rev) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                   (lease["lease_id"], ctx.tenant, member, store, plan["points"], plan["value"],
                    lease["per_txn_points"], lease["per_txn_value"], ctx.now,
                    lease["expires_at"]))
    _log(ctx, member, lease, "granted")
    _send(ctx, member, lease, ack=False)


def _amend(ctx: Ctx, member: str, lease: dict[str, Any], plan: dict[str, int],
           policy: LeasePolicy) -> str | None:
    """Set what remains of ``lease`` to ``plan`` (per account); "grown", "shrunk" or None."""
    totals = {a: lease[f"used_{a}"] + plan[a] for a in ACCOUNTS}
    if all(totals[a] == int(lease[a]) for a in ACCOUNTS):
        return None
    kind = "shrunk" if any(totals[a] < int(lease[a]) for a in ACCOUNTS) else "grown"
    lease.update(totals, rev=int(lease["rev"]) + 1,
                 per_txn_points=min(policy.per_txn_points, plan["points"]),
                 per_txn_value=min(policy.per_txn_value, plan["value"]),
                 expires_at=_expiry(ctx.now, policy.lease_ttl_s))
    ctx.db.execute("UPDATE leases SET points = ?, value = ?, per_txn_points = ?, "
                   "per_txn_value = ?, expires_at = ?, rev = ? WHERE lease_id = ?",
                   (lease["points"], lease["value"], lease["per_txn_points"],
                    lease["per_txn_value"], lease["expires_at"], lease["rev"],
                    lease["lease_id"]))
    _log(ctx, member, lease, kind)
    _send(ctx, member, lease, ack=kind == "shrunk")
    return kind


def _revoke(ctx: Ctx, member: str, lease: dict[str, Any]) -> None:
    """Take the whole lease back; it counts as before until the store acknowledges."""
    lease.update(points=0, value=0, rev=int(lease["rev"]) + 1, revoked=1)
    ctx.db.execute("UPDATE leases SET points = 0, value = 0, rev = ?, revoked = 1 "
                   "WHERE lease_id = ?", (lease["rev"], lease["lease_id"]))
    _log(ctx, member, lease, "revoked")
    queue(ctx.db, ctx.tenant, "lease.revoked",
          {"lease_id": lease["lease_id"], "rev": lease["rev"], "ack": True},
          stores=[lease["store"]])


def rebalance(ctx: Ctx, member: str, requester: str | None = None) -> None:
    """Grant, top up or shrink the online stores' leases of ``member`` towards their share.

    The share of each store holding a live lease (and of ``requester``, an online store that
    looked the member up) is min(cap, share % of the balance, balance / number of such
    stores). Stores below it grow, ``requester`` first, as far as the balance minus what
    every lease still counts allows. When one stays short (or the leases count more than the
    balance), online stores above their share are shrunk to it: that room is free once they
    acknowledge, and the ack runs this again. An offline store's lease is never touched.
    """
    db, policy = ctx.db, get_policy(ctx.db)
    balance = members_sql.balances(db, member)
    leases = outstanding(db, member, ctx.now)
    current: dict[str, dict[str, Any]] = {}
    older: list[dict[str, Any]] = []
    for lease in leases:  # ULID order: the newest live lease of a store is its current one
        if not lease["revoked"]:
            if lease["store"] in current:
                older.append(current[lease["store"]])
            current[lease["store"]] = lease
    claimants = set(current) | ({requester} if requester else set())
    online = _online(db, claimants)
    for lease in older:  # two leases at one store (a One-ID merge): keep the newest
        if lease["store"] in online:
            _revoke(ctx, member, lease)
    if not claimants:
        return
    caps = {"points": policy.lease_points, "value": policy.lease_value}
    share = {a: max(0, min(caps[a], balance[a] * policy.lease_share_pct // 100,
                           balance[a] // len(claimants))) for a in ACCOUNTS}
    free = {a: balance[a] - sum(x[f"counted_{a}"] for x in leases) for a in ACCOUNTS}
    order = sorted(online, key=lambda s: (s != requester, s))
    plan = {s: {a: current[s][f"remaining_{a}"] if s in current else 0 for a in ACCOUNTS}
            for s in order}
    short = dict.fromkeys(ACCOUNTS, 0)
    for store in order:
        for a in ACCOUNTS:
            if plan[store][a] < share[a]:
                held = current[store][f"counted_{a}"] if store in current else 0
                plan[store][a] = min(share[a], max(plan[store][a], held + max(0, free[a])))
                free[a] -= max(0, plan[store][a] - held)
                short[a] += share[a] - plan[store][a]
    for a in ACCOUNTS:
        if short[a] > 0 or free[a] < 0:
            for store in order:
                plan[store][a] = min(plan[store][a], share[a])
    for store in order:
        if store in current:
            _amend(ctx, member, current[store], plan[store], policy)
        elif any(share.values()):  # a claim, even at 0 now: it grows when room comes free
            _grant(ctx, member, store, plan[store], policy)


def acked(ctx: Ctx, data: dict[str, Any]) -> None:
    """``lease.acked {lease_id, rev}``: the store applied revision ``rev`` of its lease (and
    so every one before it); a shrink up to it now counts, and the room goes to others."""
    lease_id, rev = data.get("lease_id"), data.get("rev")
    if not isinstance(lease_id, str) or not isinstance(rev, int) or isinstance(rev, bool):
        raise MemberError("lease_id or rev missing or of the wrong type")
    rows = ctx.db.rows(f"SELECT member, {_COLUMNS} FROM leases WHERE lease_id = ? AND store = ?",
                       (lease_id, ctx.store))
    if not rows or not 1 <= rev <= int(rows[0]["rev"]):
        raise MemberError(f"no lease {lease_id!r} revision {rev} of this store")
    lease = rows[0]
    if rev <= int(lease["acked_rev"]):
        return
    ctx.db.execute("UPDATE leases SET acked_rev = ? WHERE lease_id = ?", (rev, lease_id))
    _log(ctx, lease["member"], {**lease, "rev": rev}, "acked")
    rebalance(ctx, lease["member"])


# -- settlement after a reconnect ------------------------------------------------------------
def mark_unsettled(ctx: Ctx, lease_id: str) -> None:
    """An entry against ``lease_id`` was applied: if its store is catching up after a
    reconnect, the lease is settled once the catch-up is done."""
    ctx.db.execute("UPDATE leases SET unsettled = 1 WHERE lease_id = ? AND store = ? AND "
                   "EXISTS (SELECT 1 FROM stores WHERE store = ? AND settle_seq IS NOT NULL)",
                   (lease_id, ctx.store, ctx.store))


UNSETTLED: Final = "SELECT lease_id, member FROM leases WHERE store = ? AND unsettled = 1 " \
    "ORDER BY lease_id"


def settle_if_due(db: Backend, store: str, now: str,
                  row: tuple[str, int, int | None] | None = None) -> bool:
    """After a reconnect (the birth set ``settle_seq``, the edge's last seq then), once every
    event up to it is applied: settle each lease entries were applied against meanwhile.
    ``row``: the store's (tenant, applied_seq, settle_seq), when the caller just read them.

    The caller holds the store's row (a birth's update, a batch's lock), and only a batch of
    the store marks its leases unsettled: so when it has none, which is most reconnects,
    nothing is settled and the tenant's member lock is not taken (a reconnect storm of a
    thousand stores took it a thousand times, for nothing)."""
    if row is None:
        row = db.execute("SELECT tenant, applied_seq, settle_seq FROM stores WHERE store = ?",
                         (store,)).fetchone()
    if row is None or row[2] is None or int(row[1]) < int(row[2]):
        return False
    tenant = row[0]
    if db.execute(UNSETTLED, (store,)).fetchone() is not None:
        lock_tenant(db, tenant)
        ctx = Ctx(db, tenant, store, now)
        for lease_id, member in db.execute(UNSETTLED, (store,)).fetchall():
            settle(ctx, member, lease_id)
    db.execute("UPDATE stores SET settle_seq = NULL WHERE store = ?", (store,))
    return True


def settle(ctx: Ctx, member: str, lease_id: str) -> None:
    """Record what the store spent against the lease and what is left, then apply the policy:
    the lease is revoked when the member has nothing left to spend, else re-granted at the
    store's share (grown or shrunk). An overspend is already an ``overspend`` conflict."""
    db = ctx.db
    (lease,) = [_measure(db, x) for x in db.rows(f"SELECT {_COLUMNS} FROM leases "
                                                 "WHERE lease_id = ?", (lease_id,))]
    db.execute("UPDATE leases SET unsettled = 0 WHERE lease_id = ?", (lease_id,))
    balance = members_sql.balances(db, member)
    detail: dict[str, Any] = {f"{k}_{a}": lease[f"{k}_{a}"] for k in ("used", "remaining")
                              for a in ACCOUNTS}
    detail.update({f"balance_{a}": balance[a] for a in ACCOUNTS})
    detail.update({f"overspent_{a}": max(0, -balance[a]) for a in ACCOUNTS})
    rev, action = lease["rev"], "kept"
    live = not lease["revoked"] and lease["expires_at"] > ctx.now
    if live and _online(db, {lease["store"]}):
        if all(balance[a] <= 0 for a in ACCOUNTS):
            _revoke(ctx, member, lease)
            action = "revoked"
        else:
            rebalance(ctx, member, requester=lease["store"])
            lease = db.rows(f"SELECT {_COLUMNS} FROM leases WHERE lease_id = ?", (lease_id,))[0]
            if lease["rev"] != rev:
                action = db.execute("SELECT kind FROM lease_log WHERE lease_id = ? AND rev = ? "
                                    "ORDER BY id DESC", (lease_id, lease["rev"])).fetchone()[0]
    _log(ctx, member, lease, "settled", {**detail, "action": action})
