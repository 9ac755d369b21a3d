"""Referrals at HQ (ARCHITECTURE §4f; docs/members.md, "Referrals").

Every member has one code (``GET /api/v1/members/{id}/referral``, drawn at random the first
time it is asked for). A guest who joins at a till with a friend's code sends it in the
store's ``member.created``; HQ checks it when it applies that event and keeps one row for the
new member (the referee):

- ``refused`` with a reason: ``unknown_code`` (no member of this tenant has it), ``self`` (the
  code is the referee's own, or the referee's identities merged it into the code's member),
  ``not_new`` (the "new" member was an existing one: an identity merged it at once),
  ``loop`` (the code's member was, up the chain, referred by the referee);
- else ``pending`` until the referee's first paid order of at least the rule's
  ``min_spend_cents`` (an ``order.paid`` at a till, or a platform order, paid when placed):
  then both get the rule's coupon, once — the row moves to ``rewarded`` in the batch's
  transaction with ``WHERE status = 'pending'``, so two stores' batches can never reward
  twice. Orders under the minimum do not use up the reward. Without a rule nothing is
  rewarded (the referrals are still counted); a rule set later rewards the next qualifying
  order. A refund after the reward does not take the coupons back.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.db.schema import UPSERT_SETTING
from cloud.members import coupons
from cloud.members.sql import Ctx, merged_ids, resolve
from common.referrals import new_code, normal
from common.vocabulary import PLATFORM_CHANNELS

RULE_KEY: Final = "referral.rule"
_MAX_CHAIN: Final = 100
REASONS: Final = ("unknown_code", "self", "not_new", "loop")


def code_for(db: Backend, tenant: str, member: str, now: str) -> str:
    """The member's code, drawn (and kept) the first time it is asked for."""
    row = db.execute("SELECT code FROM referral_codes WHERE member = ?", (member,)).fetchone()
    while row is None:
        code = new_code()
        db.execute("INSERT INTO referral_codes(code, tenant, member, created_at) VALUES "
                   "(?, ?, ?, ?) ON CONFLICT DO NOTHING", (code, tenant, member, now))
        row = db.execute("SELECT code FROM referral_codes WHERE member = ?",
                         (member,)).fetchone()
    return str(row[0])


def summary(db: Backend, member: str) -> dict[str, int]:
    """The member's referrals by status."""
    counts = dict.fromkeys(("pending", "rewarded", "refused"), 0)
    for status, n in db.execute("SELECT status, count(*) FROM referrals WHERE referrer = ? "
                                "GROUP BY status", (member,)).fetchall():
        counts[str(status)] = int(n)
    return counts


def _referrer_of(db: Backend, member: str) -> str | None:
    row = db.execute("SELECT referrer FROM referrals WHERE referee = ? AND status != "
                     "'refused'", (member,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _refusal(db: Backend, referee: str, referrer: str | None, merged: bool) -> str | None:
    if referrer is None:
        return "unknown_code"
    if resolve(db, referrer) == resolve(db, referee):
        return "self"
    if merged:
        return "not_new"
    up: str | None = referrer
    for _ in range(_MAX_CHAIN):
        up = _referrer_of(db, up) if up is not None else None
        if up is None:
            return None
        if resolve(db, up) == resolve(db, referee):
            return "loop"
    return "loop"  # a chain that long is not a chain of friends


def joined(ctx: Ctx, referee: str, code: Any, merged: bool) -> None:
    """``member.created`` named ``code``: record the referral (first one wins), or refuse it."""
    if not isinstance(code, str) or ctx.store is None:
        return
    found = normal(code)
    row = ctx.db.execute("SELECT member FROM referral_codes WHERE code = ? AND tenant = ?",
                         (found or "", ctx.tenant)).fetchone() if found else None
    referrer = None if row is None else str(row[0])
    reason = _refusal(ctx.db, referee, referrer, merged)
    ctx.db.execute("INSERT INTO referrals(referee, referrer, tenant, code, store, at, status, "
                   "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   (referee, referrer, ctx.tenant, (found or code)[:16], ctx.store, ctx.now,
                    "refused" if reason else "pending", reason))


def rule(db: Backend) -> dict[str, Any] | None:
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?", (RULE_KEY,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def put_rule(db: Backend, new: dict[str, Any] | None) -> None:
    """Set (None: remove) the reward rule; UnknownTemplate when a template does not exist."""
    if new is None:
        db.execute("DELETE FROM hq_settings WHERE key = ?", (RULE_KEY,))
        return
    for template in (new["referrer_template"], new["referee_template"]):
        coupons.get_template(db, template)
    db.execute(UPSERT_SETTING, (RULE_KEY, json.dumps(new, sort_keys=True)))


def order_paid(ctx: Ctx, reward: dict[str, Any] | None, order_id: Any,
               placed: dict[str, Any] | None = None) -> None:
    """An order of this store was paid (``order.paid``; ``placed``: a platform order, paid
    when placed): the first of the referee's of at least the minimum rewards both, once."""
    if reward is None or not isinstance(order_id, str) or ctx.store is None:
        return
    if placed is not None:
        if placed.get("channel") not in PLATFORM_CHANNELS:
            return
        member, total = placed.get("member"), placed.get("total_cents")
    else:
        row = ctx.db.execute("SELECT member, total_cents FROM orders WHERE store = ? AND "
                             "id = ?", (ctx.store, order_id)).fetchone()
        member, total = (None, None) if row is None else (row[0], row[1])
    if not isinstance(member, str) or not isinstance(total, int) or isinstance(total, bool) \
            or total < int(reward["min_spend_cents"]):
        return
    _reward(ctx, reward, resolve(ctx.db, member), order_id)


def _reward(ctx: Ctx, reward: dict[str, Any], member: str, order_id: str) -> None:
    ids = merged_ids(ctx.db, member)  # it may have joined under an id merged into it since
    row = ctx.db.execute(f"SELECT referee, referrer FROM referrals WHERE referee IN "
                         f"({','.join('?' * len(ids))}) AND status = 'pending' ORDER BY at",
                         ids).fetchone()
    if row is None:
        return  # most orders: not a referee's, or rewarded already
    referee, referrer = str(row[0]), resolve(ctx.db, str(row[1]))
    reason = _refusal(ctx.db, member, referrer, merged=False)  # merges since it joined
    if reason is not None:
        ctx.db.execute("UPDATE referrals SET status = 'refused', reason = ? WHERE "
                       "referee = ? AND status = 'pending'", (reason, referee))
        return
    won = ctx.db.execute("UPDATE referrals SET status = 'rewarded', order_store = ?, "
                         "order_id = ?, rewarded_at = ? WHERE referee = ? AND "
                         "status = 'pending'", (ctx.store, order_id, ctx.now, referee))
    if not won.rowcount:
        return
    try:
        codes = (coupons.grant(ctx, reward["referrer_template"], referrer),
                 coupons.grant(ctx, reward["referee_template"], member))
    except coupons.UnknownTemplate:
        return  # the template went away since the rule was set: rewarded, nothing to give
    ctx.db.execute("UPDATE referrals SET referrer_coupon = ?, referee_coupon = ? WHERE "
                   "referee = ?", (*codes, referee))


def report(db: Backend, stores: list[str] | None, since: str, until: str) -> dict[str, Any]:
    """Referrals made at each store (where the referee joined) in [since, until)."""
    where, args = "at >= ? AND at < ?", [since, until]
    if stores is not None:
        where += f" AND store IN ({','.join('?' * len(stores))})"
        args += stores
    by_store: dict[str, dict[str, Any]] = {}
    refusals = dict.fromkeys(REASONS, 0)
    for store, status, reason, n in db.execute(
            f"SELECT store, status, reason, count(*) FROM referrals WHERE {where} "
            "GROUP BY store, status, reason ORDER BY store", args).fetchall():
        row = by_store.setdefault(store, {"store": store, "joined": 0, "pending": 0,
                                          "rewarded": 0, "refused": 0})
        row["joined"] += n
        row[status] += n
        if reason in refusals:
            refusals[reason] += n
    total = {k: sum(r[k] for r in by_store.values())
             for k in ("joined", "pending", "rewarded", "refused")}
    return {**total, "refusals": refusals, "by_store": list(by_store.values())}


class ReferralOps:
    """``CloudDb``'s referral operations; each holds the instance's lock."""

    _db: Backend
    _lock: threading.RLock

    def member_referral(self, member: str) -> dict[str, Any] | None:
        """The member's code (drawn now if it has none) and its referrals; None: unknown,
        merged away or erased."""
        with self._lock, self._db.write():
            row = self._db.execute("SELECT tenant FROM members WHERE id = ? AND merged_into "
                                   "IS NULL AND erased_at IS NULL", (member,)).fetchone()
            if row is None:
                return None
            code = code_for(self._db, str(row[0]), member, utc_now_iso())
            return {"member": member, "code": code, "referrals": summary(self._db, member)}

    def referral_code_known(self, code: str) -> bool:
        with self._lock, self._db.read():
            return self._db.execute("SELECT 1 FROM referral_codes WHERE code = ?",
                                    (code,)).fetchone() is not None

    def referral_rule(self) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return rule(self._db)

    def put_referral_rule(self, new: dict[str, Any] | None) -> None:
        with self._lock, self._db.write():
            put_rule(self._db, new)

    def referral_report(self, stores: list[str] | None, since: str, until: str
                        ) -> dict[str, Any]:
        with self._lock, self._db.read():
            return report(self._db, stores, since, until)
