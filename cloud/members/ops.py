"""``CloudDb``'s member operations for the HQ API and jobs (docs/members.md).

Each write takes the tenant's member lock, queues its changes (``fanout``) and drains them
to the stores' feeds after the commit; the answer carries {store: first new cursor} so the
caller can push them to online stores.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.db.keyset import Key
from cloud.errors import UnknownStore
from cloud.feed import fanout
from cloud.feed.changes import merged
from cloud.members import consent, coupons, erasure, follow, journey, leases, ledger
from cloud.members import sql as members
from common.vocabulary import PROFILE_FIELDS
from cloud.members.coupons import UnknownTemplate
from cloud.members.leases import LeasePolicy
from cloud.members.sql import Ctx
from cloud.reservations import sql as reservations

__all__ = ["IdempotencyReused", "InsufficientBalance", "MemberOps", "UnknownMember",
           "UnknownStore", "UnknownTemplate"]


class UnknownMember(LookupError):
    pass


class IdempotencyReused(ValueError):
    """The Idempotency-Key was used before with another request."""


class InsufficientBalance(ValueError):
    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__(json.dumps(detail))
        self.detail = detail


def _digest(request: Any) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _replay(db: Backend, scope: str, key: str | None, request: Any) -> Any:
    """The stored answer of an earlier request with ``key`` (None: new)."""
    if key is None:
        return None
    row = db.execute("SELECT request, response FROM idempotency WHERE scope = ? AND key = ?",
                     (scope, key)).fetchone()
    if row is None:
        return None
    if row[0] != _digest(request):
        raise IdempotencyReused(key)
    return json.loads(row[1])


def _remember(db: Backend, scope: str, key: str | None, request: Any, response: Any) -> None:
    if key is not None:
        db.execute("INSERT INTO idempotency(scope, key, request, response, created_at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (scope, key, _digest(request), json.dumps(response), utc_now_iso()))


class MemberOps:
    _db: Backend
    _lock: threading.RLock

    def set_lease_policy(self, policy: LeasePolicy) -> None:
        with self._lock, self._db.write():
            leases.set_policy(self._db, policy)

    def set_member_fanout(self, mode: str) -> dict[str, Any]:
        """``members.fanout`` (follow.py): ``{mode, was, followers_added}``. Every tenant's
        member lock is taken first, so no member event is projected half in one mode."""
        with self._lock:
            was = follow.mode(self._db)
            if was == mode:
                return {"mode": mode, "was": was, "followers_added": 0}
        with self._lock, self._db.write():
            for (tenant,) in self._db.execute("SELECT DISTINCT tenant FROM stores "
                                              "ORDER BY tenant").fetchall():
                members.lock_tenant(self._db, tenant)
            return follow.set_mode(self._db, mode)

    def member_followers(self, member_id: str) -> list[str]:
        with self._lock:
            return follow.followers(self._db, members.resolve(self._db, member_id))

    def lease_policy(self) -> LeasePolicy:
        with self._lock:
            return leases.get_policy(self._db)

    def drain_changes(self) -> dict[str, int]:
        """Append queued member changes to the stores' feeds; {store: first new cursor}."""
        with self._lock:
            return fanout.drain(self._db)

    def tenant_key(self, tenant: str) -> str:
        with self._lock, self._db.write():
            return members.tenant_key(self._db, tenant)

    # -- reads -------------------------------------------------------------------------
    def find_members(self, phone_hash: str | None = None,
                     member_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock, self._db.read():
            ids: list[str] = []
            if phone_hash is not None:
                ids += [r[0] for r in self._db.execute(
                    "SELECT member FROM member_identities WHERE idhash = ? AND kind = 'phone'",
                    (phone_hash,)).fetchall()]
            if member_id is not None:
                ids.append(member_id)
            found = sorted({members.resolve(self._db, i) for i in ids})
            return [s for s in (self._summary(i) for i in found) if s is not None]

    def _summary(self, member: str) -> dict[str, Any] | None:
        rows = self._db.rows(f"SELECT id, tenant, origin, {', '.join(PROFILE_FIELDS)}, "
                             "created_at FROM members WHERE id = ? AND merged_into IS NULL",
                             (member,))
        if not rows:
            return None
        return {**rows[0], "balances": members.balances(self._db, member)}

    def member_consents(self, member_id: str, wanted: dict[str, bool] | None = None
                        ) -> dict[str, Any] | None:
        """The member's consent per purpose and its history; ``wanted``: change it first
        (source ``hq``). None: unknown member."""
        with self._lock, self._db.write():
            mid = members.resolve(self._db, member_id)
            if self._db.execute("SELECT 1 FROM members WHERE id = ?", (mid,)).fetchone() is None:
                return None
            if wanted:
                consent.change(self._db, mid, wanted, "hq", None, utc_now_iso())
            return {"member": mid, "consents": consent.current(self._db, mid),
                    "history": consent.history(self._db, mid)}

    def member_export(self, member_id: str) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return erasure.export(self._db, member_id)

    def erase_member(self, member_id: str, by: str) -> tuple[dict[str, Any] | None,
                                                              dict[str, int]]:
        """Erase the member everywhere (its ``member.erased`` queued to every store of its
        tenant): (what was done or None when unknown, {store: cursor} to push)."""
        with self._lock:
            done = erasure.erase(self._db, member_id, by)
            return done, fanout.drain(self._db) if done else {}

    def erasures(self, member_id: str | None = None, after: Key | None = None,
                 limit: int = erasure.ERASURES.default) -> list[dict[str, Any]]:
        with self._lock, self._db.read():
            return erasure.erasures(self._db, member_id, after, limit)

    def member_journey(self, member_id: str) -> dict[str, Any] | None:
        """The member's timeline across channels and stores (None: unknown)."""
        with self._lock, self._db.read():
            return journey.journey(self._db, member_id)

    def member_detail(self, member_id: str) -> dict[str, Any] | None:
        """The survivor of ``member_id``: balances, identities, merges, ledger, the leases that
        still count and their history (grants, amendments, acks, settlements)."""
        db = self._db
        with self._lock, db.read():
            member = self._summary(members.resolve(db, member_id))
            if member is None:
                return None
            mid = member["id"]
            member["identities"] = db.rows("SELECT kind, idhash, last4, added_at FROM "
                                           "member_identities WHERE member = ? ORDER BY added_at,"
                                           " idhash", (mid,))
            merges = db.rows("SELECT from_member, into_member, idhash, store, at FROM "
                             "member_merges WHERE tenant = ? ORDER BY id", (member["tenant"],))
            member["merges"] = [
                {"from": m["from_member"], "into": m["into_member"], "idhash": m["idhash"],
                 "store": m["store"], "at": m["at"]}
                for m in merges if members.resolve(db, m["into_member"]) == mid]
            member["ledger"] = db.rows(
                "SELECT entry_id, original_member, account, kind, amount, store, order_id, "
                "lease_id, at, hlc, note FROM ledger WHERE member = ? ORDER BY hlc, entry_id "
                "LIMIT 1000", (mid,))
            member["leases"] = leases.outstanding(db, mid, utc_now_iso())
            member["lease_history"] = leases.history(db, mid)
            member["dining_scenes"] = reservations.member_scenes(db, mid)
            member["coupons"] = db.rows("SELECT code, template_id, state, redeemed_store, "
                                        "order_id FROM coupons WHERE member = ? ORDER BY code",
                                        (mid,))
            return member

    def coupon(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            return coupons.get(self._db, code)

    def promotion_clashes(self) -> list[dict[str, Any]]:
        with self._lock:
            return coupons.clashes(self._db, utc_now_iso())

    # -- writes ------------------------------------------------------------------------
    def post_ledger(self, member_id: str, body: dict[str, Any],
                    key: str | None) -> tuple[bool, dict[str, Any], dict[str, int]]:
        """An HQ adjust / top-up: (replayed, entry, cursors). Refuses a negative balance."""
        db, request = self._db, {"member": member_id, **body}
        with self._lock:
            with db.write():
                tenant = members.tenant_of(db, members.resolve(db, member_id))
                if tenant is None:
                    raise UnknownMember(member_id)
                members.lock_tenant(db, tenant)
                stored = _replay(db, "ledger", key, request)
                if stored is not None:
                    return True, stored, {}
                ctx = Ctx(db, tenant, None, utc_now_iso())
                member = members.resolve(db, member_id)
                balance = members.balances(db, member)[body["account"]]
                if balance + body["amount"] < 0:
                    raise InsufficientBalance({"account": body["account"], "balance": balance,
                                               "amount": body["amount"]})
                entry = ledger.hq_entry(ctx, member, body["account"], body["kind"],
                                        body["amount"], body.get("note"))
                _remember(db, "ledger", key, request, entry)
            return False, entry, fanout.drain(db)

    def expire_points(self, months: int, now: str | None = None
                      ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The expiry job: points earned more than ``months`` ago and not used, FIFO, become
        ``expire`` entries sent to every store. Idempotent: a second run expires nothing."""
        now = now or utc_now_iso()
        cutoff = ledger.months_before(now, months)
        made: list[dict[str, Any]] = []
        with self._lock:
            tenants = [r[0] for r in self._db.execute(
                "SELECT DISTINCT tenant FROM ledger ORDER BY tenant").fetchall()]
            for tenant in tenants:
                with self._db.write():
                    members.lock_tenant(self._db, tenant)
                    made += ledger.expire(Ctx(self._db, tenant, None, now), cutoff)
            return made, fanout.drain(self._db)

    def put_coupon_template(self, template: dict[str, Any]) -> dict[str, int]:
        with self._lock:
            with self._db.write():
                coupons.put_template(self._db, template)
            return fanout.drain(self._db)  # queued: appended in chunks of stores

    def issue_coupons(self, template_id: str, member_ids: list[str], count: int,
                      stores: list[str] | None, key: str | None
                      ) -> tuple[bool, list[dict[str, Any]], dict[str, int]]:
        """Issue coupons (see ``coupons.issue``): (replayed, coupons, cursors)."""
        request = {"template_id": template_id, "members": member_ids, "count": count,
                   "stores": stores}
        db = self._db
        with self._lock:
            with db.write():
                stored = _replay(db, "coupons", key, request)
                if stored is not None:
                    return True, stored, {}
                unknown = [m for m in member_ids
                           if members.tenant_of(db, members.resolve(db, m)) is None]
                if unknown:
                    raise UnknownMember(", ".join(unknown[:10]))
                issued = coupons.issue(db, template_id, member_ids, count, stores,
                                       utc_now_iso())
                _remember(db, "coupons", key, request, issued)
            return False, issued, fanout.drain(db)

    def put_campaign(self, rule: dict[str, Any]) -> None:
        with self._lock, self._db.write():
            coupons.put_campaign(self._db, {**rule, "updated_at": utc_now_iso()})
