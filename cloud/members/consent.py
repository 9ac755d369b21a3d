"""Consent per purpose at HQ (docs/members.md, "Consent").

``marketing`` gates the automation (its coupons and messages), ``profiling`` the member's
dining scenes and other per-member profiles; both are off until granted. A change from HQ,
from a store's till (its ``member.consent_changed`` event) or from a guest page is kept in
``consent_log`` with its time and source, and the current state in ``member_consents``. The
automation checks the state inside each transaction that records its runs and issues their
coupons, so a withdrawal committed before that transaction began is always honoured; one
committed while that very transaction runs may still see its coupon issued (the coupon is the
run's, recorded, and the next run honours the withdrawal). Locking the consent rows instead
would order locks against the stores' batches (consent rows, then stores; a batch holds its
store, then the rows) and could deadlock on PostgreSQL.
"""

from __future__ import annotations

from typing import Any, Final

from cloud.campaigns import attribution
from cloud.db.backend import Backend
from cloud.members.sql import Ctx, MemberError, resolve
from common.consent import PURPOSES, SOURCES


def current(db: Backend, member: str) -> dict[str, dict[str, Any]]:
    """{purpose: {granted, at, source}} (a purpose never set: not granted, at None)."""
    found = {p: {"granted": False, "at": None, "source": None} for p in PURPOSES}
    for r in db.rows("SELECT purpose, granted, at, source FROM member_consents "
                     "WHERE member = ?", (member,)):
        found[r["purpose"]] = {"granted": bool(r["granted"]), "at": r["at"],
                               "source": r["source"]}
    return found


def history(db: Backend, member: str) -> list[dict[str, Any]]:
    return [{**r, "granted": bool(r["granted"])} for r in db.rows(
        "SELECT purpose, granted, at, source, store FROM consent_log WHERE member = ? "
        "ORDER BY id", (member,))]


def change(db: Backend, member: str, wanted: dict[str, bool], source: str, store: str | None,
           at: str) -> list[str]:
    """Record what differs from the current state (one log row each); the purposes changed.
    An older change (``at`` before the state's) loses: the state keeps the later one."""
    changed = []
    for purpose, granted in wanted.items():
        if purpose not in PURPOSES:
            continue
        row = db.execute("SELECT granted, at FROM member_consents WHERE member = ? AND "
                         "purpose = ?{FOR_UPDATE}", (member, purpose)).fetchone()
        if row is not None and (bool(row[0]) == granted or str(row[1]) > at):
            continue
        if row is None and not granted:
            continue  # off already (never granted)
        db.execute("INSERT INTO member_consents(member, purpose, granted, at, source) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (member, purpose) DO UPDATE SET "
                   "granted = excluded.granted, at = excluded.at, source = excluded.source",
                   (member, purpose, int(granted), at, source))
        db.execute("INSERT INTO consent_log(member, purpose, granted, at, source, store) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (member, purpose, int(granted), at, source,
                                                 store))
        changed.append(purpose)
        if purpose == attribution.MARKETING and not granted:  # attribution stops at once
            attribution.forget(db, [member])
    return changed


def granted(db: Backend, members: list[str], purpose: str) -> set[str]:
    """Which of ``members`` granted ``purpose`` (read in the caller's transaction)."""
    if not members:
        return set()
    marks = ",".join("?" * len(members))
    return {r[0] for r in db.execute(
        f"SELECT member FROM member_consents WHERE purpose = ? AND granted = 1 AND member IN "
        f"({marks})", (purpose, *members)).fetchall()}


def changed_at_store(ctx: Ctx, data: dict[str, Any]) -> None:
    """A store's ``member.consent_changed {member, consents: {purpose: bool}, at, source}``."""
    member, consents = data.get("member"), data.get("consents")
    source = data.get("source") if data.get("source") in SOURCES else "till"
    if not isinstance(member, str) or not isinstance(consents, dict) or not all(
            isinstance(v, bool) for v in consents.values()):
        raise MemberError("consent change of the wrong shape")
    at = data.get("at") if isinstance(data.get("at"), str) else ctx.now
    change(ctx.db, resolve(ctx.db, member), consents, str(source), ctx.store, str(at))


CONSENT_EVENT: Final = "member.consent_changed"
