"""A member's data rights at HQ (ARCHITECTURE §4f): export everything held about a member, and
erase it.

Erasure runs in one write transaction under the tenant's member lock (so it never interleaves
with a merge: it takes the survivor of the member and every member merged into it). It keeps
the member id, now anonymous, because the accounts need it (orders, points and stored-value
balances, coupons), and removes the rest: identities (their hashes), name and birthday, the
views and profiles (RFM, scenes, consents), the names, phones and notes of bookings, the
comments of ratings, the campaign attributions of its orders and the link of its campaign
visits (they stay as anonymous visits, their visitor ids cleared), and every copy of those in
HQ's raw events, change feed and queued fan-out. ``member.erased`` goes to every store of the
tenant, which does the same in its own file. The archive files of raw events are rewritten by
the next ``events_retention`` run (``pending_archive_scrubs``, cloud/storage/retention.py). On
SQLite the transaction runs with ``secure_delete`` and the WAL is checkpointed (TRUNCATE)
afterwards, so no copy stays in the file or its WAL; on PostgreSQL dead row
versions stay until VACUUM (docs/members.md).
"""

from __future__ import annotations

import json
from typing import Any, Final

from common.privacy import scrub

from cloud.campaigns import attribution
from cloud.db.backend import Backend, utc_now_iso
from cloud.db.keyset import Column, Key, Keyset, page_rows
from cloud.feed.fanout import queue
from cloud.members import consent, journey
from cloud.members.sql import lock_tenant, resolve, tenant_of

# member.* events whose data names the member and carries what is theirs
_MEMBER_EVENTS: Final = ("member.created", "member.identity_added", "member.profile_changed",
                         "member.viewed", "member.consent_changed", "member.lookup")
# raw events rewritten when their data names an erased member: in the database (``erase``) and
# in the archive files (``StorageOps.run_retention``, cloud/storage/retention.py). A
# ``member.sought`` is stored without its identity hash (cloud/sync/apply.py): nothing to scrub
SCRUBBED_EVENTS: Final = frozenset({*_MEMBER_EVENTS, "reservation.booked", "reservation.moved",
                                    "feedback.given"})


def scrubbed(data: Any) -> dict[str, Any]:
    """An erased member's event data (or feed change) without its personal fields."""
    return {**scrub(data), "erased": True}


def export(db: Backend, member: str) -> dict[str, Any] | None:
    """Everything HQ holds about the member (and those merged into it)."""
    survivor = resolve(db, member)
    rows = db.rows("SELECT id, tenant, origin, name, birthday, created_at, erased_at FROM "
                   "members WHERE id = ?", (survivor,))
    if not rows:
        return None
    ids = journey._ids(db, survivor)
    marks = ",".join("?" * len(ids))

    def of(sql: str) -> list[dict[str, Any]]:
        return db.rows(sql.format(marks=marks), ids * sql.count("{marks}"))
    return {
        "member": rows[0], "merged": ids[1:],
        "identities": of("SELECT member, kind, idhash, last4, added_at FROM member_identities "
                         "WHERE member IN ({marks})"),
        "consents": consent.current(db, survivor), "consent_history": consent.history(
            db, survivor),
        "ledger": of("SELECT entry_id, account, kind, amount, store, order_id, at FROM ledger "
                     "WHERE member IN ({marks}) ORDER BY at"),
        "coupons": of("SELECT code, template_id, state, issued_at, redeemed_at, redeemed_store "
                      "FROM coupons WHERE member IN ({marks}) ORDER BY issued_at"),
        "orders": of("SELECT store, id, number, channel, status, total_cents, created_at FROM "
                     "orders WHERE member IN ({marks}) ORDER BY created_at"),
        "reservations": of("SELECT store, id, status, at_local, party, name, phone, note, "
                           "source, scene FROM reservations WHERE member IN ({marks})"),
        "feedback": of("SELECT store, order_id, score, comment, at FROM feedback "
                       "WHERE member IN ({marks})"),
        "views": of("SELECT store, at, skus FROM member_views WHERE member IN ({marks})"),
        "referral_code": of("SELECT code, created_at FROM referral_codes WHERE member IN "
                            "({marks})"),
        "referrals": of("SELECT referee, referrer, store, at, status, reason, rewarded_at FROM "
                        "referrals WHERE referee IN ({marks}) OR referrer IN ({marks})"),
        "campaign_visits": attribution.visits_of(db, ids),
        "campaign_attributions": attribution.attributions_of(db, ids),
        "rfm": of("SELECT store, recency_days, frequency, monetary, segment, computed_at "
                  "FROM member_rfm WHERE member IN ({marks})"),
    }


def _rewrite(db: Backend, table: str, key: str, ids: list[str], types: tuple[str, ...],
             removed: dict[str, int]) -> None:
    """Scrub the JSON ``data`` of ``table``'s rows of these types naming one of ``ids``."""
    for member in ids:
        marks = ",".join("?" * len(types))
        for row in db.rows(f"SELECT {key} AS k, data FROM {table} WHERE type IN ({marks}) "
                           f"AND data LIKE ?", (*types, f"%{member}%")):
            db.execute(f"UPDATE {table} SET data = ? WHERE {key} = ?",
                       (json.dumps(scrubbed(json.loads(row["data"])), ensure_ascii=False),
                        row["k"]))
            removed[table] = removed.get(table, 0) + 1


def erase(db: Backend, member: str, by: str) -> dict[str, Any] | None:
    """Erase the member (None: unknown). Returns ``{member, ids, at, removed}``."""
    at = utc_now_iso()
    with db.write():
        if db.name == "sqlite":
            db.execute("PRAGMA secure_delete=ON")
        tenant = tenant_of(db, member)
        if tenant is None:
            return None
        lock_tenant(db, tenant)
        survivor = resolve(db, member)
        ids = journey._ids(db, survivor)
        marks = ",".join("?" * len(ids))
        removed: dict[str, int] = {}
        idhashes = [r[0] for r in db.execute(
            f"SELECT idhash FROM member_identities WHERE member IN ({marks}) ORDER BY idhash",
            ids).fetchall()]

        def run(table: str, sql: str) -> None:
            removed[table] = removed.get(table, 0) + int(db.execute(
                sql.format(marks=marks), ids).rowcount)
        run("member_identities", "DELETE FROM member_identities WHERE member IN ({marks})")
        run("members", "UPDATE members SET name = NULL, birthday = NULL, name_hlc = NULL, "
                       f"birthday_hlc = NULL, erased_at = '{at}' WHERE id IN ({{marks}})")
        run("member_merges", "UPDATE member_merges SET idhash = NULL WHERE from_member IN "
                             "({marks})")
        run("member_merges", "UPDATE member_merges SET idhash = NULL WHERE into_member IN "
                             "({marks})")
        run("member_views", "DELETE FROM member_views WHERE member IN ({marks})")
        run("member_rfm", "DELETE FROM member_rfm WHERE member IN ({marks})")
        run("member_consents", "DELETE FROM member_consents WHERE member IN ({marks})")
        run("consent_log", "DELETE FROM consent_log WHERE member IN ({marks})")
        run("referral_codes", "DELETE FROM referral_codes WHERE member IN ({marks})")
        run("reservations", "UPDATE reservations SET name = '', phone = '', note = '', "
                            "member = NULL WHERE member IN ({marks})")
        run("feedback", "UPDATE feedback SET comment = '' WHERE member IN ({marks})")
        removed.update(attribution.forget(db, ids, erase=True))  # visits unlinked, anonymous
        _rewrite(db, "events", "event_id", ids, tuple(sorted(SCRUBBED_EVENTS)), removed)
        _rewrite(db, "changes", "store || ':' || cursor", ids,
                 ("member.upsert", "member.merged", "reservation.confirmed",
                  "reservation.request"), removed)
        _rewrite(db, "fanout", "id", ids, ("member.upsert", "member.merged"), removed)
        # HQ's answers to a store that asked about one of its identities before it was theirs
        _rewrite(db, "changes", "store || ':' || cursor", idhashes, ("member.unknown",), removed)
        _rewrite(db, "fanout", "id", idhashes, ("member.unknown",), removed)
        queue(db, tenant, "member.erased", {"member": survivor, "ids": ids})
        db.execute("INSERT INTO erasures(member, ids, at, by_user, removed) VALUES "
                   "(?, ?, ?, ?, ?)", (survivor, json.dumps(ids), at, by,
                                       json.dumps(removed, sort_keys=True)))
    if db.name == "sqlite":
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"member": survivor, "ids": ids, "at": at, "removed": removed}


def pending_archive_scrubs(db: Backend) -> list[tuple[int, list[str]]]:
    """Erasures whose ids the archive files have not been scrubbed of: (id, member ids)."""
    rows = db.rows("SELECT id, ids FROM erasures WHERE archives_scrubbed_at IS NULL ORDER BY id")
    return [(int(r["id"]), list(json.loads(r["ids"]))) for r in rows]


def mark_archives_scrubbed(db: Backend, lines: dict[int, int], at: str) -> None:
    """Record that the archives were scrubbed for these erasures: {erasure id: lines}."""
    with db.write():
        for erasure_id, count in lines.items():
            db.execute("UPDATE erasures SET archives_scrubbed_at = ?, archive_lines = ? "
                       "WHERE id = ?", (at, count, erasure_id))


ERASURES: Final = Keyset("erasures", (Column("id", int, descending=True),), hidden=("id",))


def erasures(db: Backend, member: str | None = None, after: Key | None = None,
             limit: int = ERASURES.default) -> list[dict[str, Any]]:
    """The audit of erasures (newest first), after ``after`` in ``ERASURES`` order."""
    rows = page_rows(db, ERASURES, "id, member, ids, at, by_user, removed, archives_scrubbed_at, "
                     "archive_lines FROM erasures", after, limit, member=member or None)
    return [{**r, "ids": json.loads(r["ids"]), "removed": json.loads(r["removed"])}
            for r in rows]
