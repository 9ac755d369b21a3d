"""HQ change-feed handlers for members, ledgers, leases, loyalty rules, coupons and reco pairs.

Each is ``fn(tx, data)`` run by :func:`syncdb.apply_down` in its own savepoint, with ``data``
validated against ``sync.changes.CHANGE_SCHEMAS``. All are idempotent: a change applied twice
(a replay, a snapshot) is harmless — UNIQUE ids, upserts, last-writer-wins by HLC, merges
that are already done.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from common.clock import iso, utc_now
from common.errors import DomainError
from common.vocabulary import ENTRY_KINDS, PROFILE_FIELDS

from edge.members import rules
from edge.members.sql import _add_identities, insert_entry, resolve, set_fields, store_key
from edge.db.group_commit import Tx

HQ = "hq"  # the store of an entry HQ made itself (expire, adjust, top-up at HQ)


def utc(text: str) -> str:
    """An ISO timestamp with an offset as the store writes them (``…T…:…:….mmmZ``), so
    that times compare as text."""
    return iso(datetime.fromisoformat(text.replace("Z", "+00:00")))


def apply_tenant_key(tx: Tx, data: dict[str, Any]) -> None:
    key = base64.b64decode(data["key"], validate=True)
    if len(key) != rules.KEY_BYTES:
        raise DomainError("invalid_tenant_key", f"{len(key)} bytes, not {rules.KEY_BYTES}")
    store_key(tx.conn, key)


def apply_member_upsert(tx: Tx, data: dict[str, Any]) -> None:
    """Profile fields last-writer-wins by HLC, per field; identities as HQ has them."""
    conn, member = tx.conn, data["member"]
    member_id, hlc = resolve(conn, member["id"]), member.get("hlc") or ""
    conn.execute(
        "INSERT INTO members(id, origin, created_at) VALUES (?,?,?) ON CONFLICT(id) DO NOTHING",
        (member_id, member.get("origin") or HQ, member.get("created_at") or iso(utc_now())))
    set_fields(conn, member_id, member, hlc)
    _add_identities(conn, member_id, data.get("identities") or [])


# tables whose member column a merge re-points
_MEMBER_REFS = ("orders", "ledger_entries", "coupons", "leases", "member_identities")


def apply_member_merged(tx: Tx, data: dict[str, Any]) -> None:
    """``from`` became ``into`` at HQ: re-point every reference, keep an alias for late ones."""
    conn = tx.conn
    old, into = data["from"], resolve(tx.conn, data["into"])
    if old == into:
        return
    profile = ", ".join(PROFILE_FIELDS)
    conn.execute(
        f"INSERT INTO members(id, origin, {profile}, created_at) "
        f"SELECT ?, origin, {profile}, created_at FROM members WHERE id = ? "
        "ON CONFLICT(id) DO NOTHING", (into, old))
    for table in _MEMBER_REFS:
        conn.execute(f"UPDATE {table} SET member = ? WHERE member = ?", (into, old))
    conn.execute("UPDATE members SET merged_into = ? WHERE id = ?", (into, old))
    conn.execute("UPDATE member_aliases SET member = ? WHERE member = ?", (into, old))
    conn.execute("INSERT INTO member_aliases(alias, member) VALUES (?, ?) "
                 "ON CONFLICT(alias) DO UPDATE SET member = excluded.member", (old, into))


def apply_ledger_entry(tx: Tx, data: dict[str, Any]) -> None:
    if data["kind"] not in ENTRY_KINDS[data["account"]]:
        raise DomainError("invalid_entry_kind", {"account": data["account"],
                                                 "kind": data["kind"]})
    insert_entry(tx.conn, {**data, "member": resolve(tx.conn, data["member"]),
                           "store": data.get("store") or HQ, "at": utc(data["at"])})


def apply_member_unknown(tx: Tx, data: dict[str, Any]) -> None:
    """HQ's answer to ``member.sought``: no member has the identity (the till stops waiting)."""
    tx.conn.execute("UPDATE member_sought SET answered_at = ? WHERE idhash = ?",
                    (iso(utc_now()), data["idhash"]))


def _ack_lease(tx: Tx, data: dict[str, Any]) -> None:
    """HQ asked for an ack (a shrink or a revoke): ``lease.acked`` goes up in this
    transaction, so every spend made under the old amount is before it in seq order."""
    if data.get("ack"):
        tx.emit("lease.acked", {"lease_id": data["lease_id"], "rev": data["rev"]})


def apply_lease_granted(tx: Tx, data: dict[str, Any]) -> None:
    """A lease, or an amendment of it (the same lease_id with new amounts: what the store may
    spend against it in all, its spends so far included)."""
    tx.conn.execute(
        "INSERT INTO leases(lease_id, member, points, value, per_txn_points, per_txn_value, "
        "expires_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(lease_id) DO UPDATE SET "
        "points = excluded.points, value = excluded.value, "
        "per_txn_points = excluded.per_txn_points, per_txn_value = excluded.per_txn_value, "
        "expires_at = excluded.expires_at",
        (data["lease_id"], resolve(tx.conn, data["member"]), data["points"], data["value"],
         data["per_txn_points"], data["per_txn_value"], utc(data["expires_at"])))
    _ack_lease(tx, data)


def apply_lease_revoked(tx: Tx, data: dict[str, Any]) -> None:
    tx.conn.execute("UPDATE leases SET revoked = 1 WHERE lease_id = ?", (data["lease_id"],))
    _ack_lease(tx, data)


def apply_loyalty_rules(tx: Tx, data: dict[str, Any]) -> None:
    tx.conn.execute("INSERT INTO loyalty_rules(id, rules) VALUES (1, ?) "
                    "ON CONFLICT(id) DO UPDATE SET rules = excluded.rules",
                    (json.dumps(data, sort_keys=True),))


def apply_coupon_template(tx: Tx, data: dict[str, Any]) -> None:
    window = {"valid_from": utc(data["valid_from"]), "valid_to": utc(data["valid_to"])}
    tx.conn.execute("INSERT INTO coupon_templates(template_id, data) VALUES (?, ?) "
                    "ON CONFLICT(template_id) DO UPDATE SET data = excluded.data",
                    (data["template_id"], json.dumps({**data, **window}, sort_keys=True)))


def apply_coupon_issued(tx: Tx, data: dict[str, Any]) -> None:
    """A new coupon; one the store knows already (perhaps redeemed here) is left alone."""
    member = data.get("member")
    tx.conn.execute(
        "INSERT INTO coupons(code, template_id, member, issued_at, state) "
        "VALUES (?,?,?,?,'issued') ON CONFLICT(code) DO NOTHING",
        (data["code"], data["template_id"], resolve(tx.conn, member) if member else None,
         utc(data["issued_at"])))


def apply_coupon_state(tx: Tx, data: dict[str, Any]) -> None:
    """HQ's verdict on a coupon (e.g. redeemed at another store): it wins."""
    tx.conn.execute(
        "UPDATE coupons SET state = ?, redeemed_store = COALESCE(?, redeemed_store), "
        "order_id = COALESCE(?, order_id), redeemed_at = CASE WHEN ? = 'redeemed' "
        "THEN COALESCE(redeemed_at, ?) ELSE redeemed_at END WHERE code = ?",
        (data["state"], data.get("redeemed_store"), data.get("order_id"), data["state"],
         iso(utc_now()), data["code"]))


def apply_reco_pairs(tx: Tx, data: dict[str, Any]) -> None:
    """The full table of "often bought together" pairs replaces the one before."""
    tx.conn.execute("DELETE FROM reco_pairs")
    tx.conn.executemany(
        "INSERT INTO reco_pairs(a, b, support, confidence, lift) VALUES (?,?,?,?,?) "
        "ON CONFLICT(a, b) DO UPDATE SET support = excluded.support, "
        "confidence = excluded.confidence, lift = excluded.lift",
        [(p["a"], p["b"], p["support"], p["confidence"], p["lift"]) for p in data["pairs"]])


HANDLERS: dict[str, Callable[[Tx, dict[str, Any]], None]] = {
    "tenant.key": apply_tenant_key,
    "member.upsert": apply_member_upsert,
    "member.merged": apply_member_merged,
    "member.unknown": apply_member_unknown,
    "ledger.entry": apply_ledger_entry,
    "lease.granted": apply_lease_granted,
    "lease.revoked": apply_lease_revoked,
    "loyalty.rules": apply_loyalty_rules,
    "coupon.template": apply_coupon_template,
    "coupon.issued": apply_coupon_issued,
    "coupon.state": apply_coupon_state,
    "reco.pairs": apply_reco_pairs,
}
