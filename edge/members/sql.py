"""Member SQL: the tenant key file, member views, create, spend and top-up, order perks.

Identifiers are stored only as ``idhash`` (HMAC under the tenant key) plus a phone's last
four digits; the API hashes before anything reaches the writer thread. The change-feed
handlers (HQ -> store) are in :mod:`members_feed`.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from common.clock import iso, utc_now
from common.errors import Conflict, DomainError, NotFound
from common.ids import new_ulid
from common.vocabulary import ACCOUNTS, MEMBER_SOUGHT, PROFILE_FIELDS
from sync.hlc import ClockDrift

from edge.members import rules
from edge.db.group_commit import Tx

KEY_FILE = "member.key"
SOUGHT_KEEP_S = 3600  # a member_sought row: long past the wait of the lookup that asked
_KEYS: dict[Path, bytes] = {}  # data dir -> tenant key (a key never changes once written)


# -- the tenant key -----------------------------------------------------------------------
def load_key(data_dir: Path) -> bytes | None:
    """The tenant key from ``<data_dir>/member.key``, or None before HQ sent it."""
    key = _KEYS.get(data_dir)
    if key is None:
        try:
            text = (data_dir / KEY_FILE).read_text()
        except FileNotFoundError:
            return None
        key = _KEYS[data_dir] = base64.b64decode(text.strip(), validate=True)
    return key
_PROFILE = ", ".join(PROFILE_FIELDS)  # the members table's profile columns, in order
_PROFILE_HLCS = ", ".join(f"{f}_hlc" for f in PROFILE_FIELDS)


def data_dir_of(conn: sqlite3.Connection) -> Path:
    return Path(conn.execute("PRAGMA database_list").fetchone()[2]).parent


def store_key(conn: sqlite3.Connection, key: bytes) -> bool:
    """Write the key file (0600, atomically) unless it holds this key; a different key is
    refused: every stored idhash depends on it. Returns whether the file was written."""
    data_dir = data_dir_of(conn)
    current = load_key(data_dir)
    if current == key:
        return False
    if current is not None:
        raise DomainError("tenant_key_mismatch", "the store already has another tenant key")
    path, tmp = data_dir / KEY_FILE, data_dir / (KEY_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _KEYS[data_dir] = key
    return True


# -- reads (any connection) -------------------------------------------------------------------
def resolve(conn: sqlite3.Connection, member: str) -> str:
    """A member id, or the survivor it was merged into."""
    row = conn.execute("SELECT member FROM member_aliases WHERE alias = ?", (member,)).fetchone()
    return str(row[0]) if row else member


def by_idhash(conn: sqlite3.Connection, idhash: str) -> str | None:
    row = conn.execute("SELECT member FROM member_identities WHERE idhash = ?",
                       (idhash,)).fetchone()
    return resolve(conn, row[0]) if row else None


def balances(conn: sqlite3.Connection, member: str) -> dict[str, int]:
    found = dict(conn.execute(
        "SELECT account, SUM(amount) FROM ledger_entries WHERE member = ? GROUP BY account",
        (member,)).fetchall())
    return {account: int(found.get(account) or 0) for account in ACCOUNTS}


def live_lease(conn: sqlite3.Connection, member: str, now: str) -> dict[str, Any] | None:
    """The member's newest unrevoked, unexpired lease with what remains of it."""
    row = conn.execute(
        "SELECT lease_id, points, value, per_txn_points, per_txn_value, expires_at FROM leases "
        "WHERE member = ? AND revoked = 0 AND expires_at > ? ORDER BY expires_at DESC LIMIT 1",
        (member, now)).fetchone()
    if row is None:
        return None
    used = dict(conn.execute(
        "SELECT account, SUM(amount) FROM ledger_entries WHERE lease_id = ? GROUP BY account",
        (row[0],)).fetchall())
    return {"lease_id": row[0], "expires_at": row[5],
            "points": rules.lease_remaining(row[1], int(used.get("points") or 0)),
            "value_cents": rules.lease_remaining(row[2], int(used.get("value") or 0)),
            "per_txn_points": row[3], "per_txn_value_cents": row[4]}


def member_view(conn: sqlite3.Connection, member: str, now: str | None = None,
                channel: str | None = None) -> dict[str, Any] | None:
    """What a till shows: profile, identities (kind, last4), balances, allowance, coupons."""
    member = resolve(conn, member)
    row = conn.execute(f"SELECT id, origin, created_at, {_PROFILE} FROM members WHERE id = ?",
                       (member,)).fetchone()
    if row is None:
        return None
    now = now or iso(utc_now())
    money = balances(conn, member)
    identities = [{"kind": k, "last4": l4} for k, l4 in conn.execute(
        "SELECT kind, last4 FROM member_identities WHERE member = ? ORDER BY kind", (member,))]
    return {"id": row[0], "origin": row[1], **dict(zip(PROFILE_FIELDS, row[3:])),
            "created_at": row[2], "identities": identities, "points": money["points"],
            "value_cents": money["value"], "allowance": live_lease(conn, member, now),
            "coupons": usable_coupons(conn, member, now, channel)}


def usable_coupons(conn: sqlite3.Connection, member: str, now: str,
                   channel: str | None) -> list[dict[str, Any]]:
    found = []
    for code, template_id, data in conn.execute(
            "SELECT c.code, c.template_id, t.data FROM coupons c JOIN coupon_templates t "
            "USING (template_id) WHERE c.member = ? AND c.state = 'issued' ORDER BY c.code",
            (member,)):
        template = json.loads(data)
        if not template["valid_from"] <= now <= template["valid_to"]:
            continue
        if channel and template.get("channels") and channel not in template["channels"]:
            continue
        found.append({"code": code, "template_id": template_id, "kind": template["kind"],
                      "value": template["value"], "min_spend": template.get("min_spend"),
                      "sku": template.get("sku"), "valid_to": template["valid_to"]})
    return found


def recommendations(conn: sqlite3.Connection, skus: list[str], limit: int = 10
                    ) -> list[dict[str, Any]]:
    """Items often bought with ``skus`` (reco.pairs), best lift first, available ones only."""
    marks = ",".join("?" * len(skus))
    rows = conn.execute(
        "SELECT p.b, i.name, i.price_cents, MAX(p.lift), MAX(p.confidence), MAX(p.support) "
        f"FROM reco_pairs p JOIN items i ON i.sku = p.b WHERE p.a IN ({marks}) "
        f"AND p.b NOT IN ({marks}) AND i.available = 1 GROUP BY p.b "
        "ORDER BY MAX(p.lift) DESC, MAX(p.confidence) DESC, p.b LIMIT ?",
        (*skus, *skus, limit)).fetchall()
    return [{"sku": r[0], "name": r[1], "price_cents": r[2], "lift": r[3], "confidence": r[4],
             "support": r[5]} for r in rows]


# -- idempotent requests ------------------------------------------------------------------------
def replayed(tx: Tx, key: str, req_hash: str) -> dict[str, Any] | None:
    """The first answer given under ``key``; 422 when the key came with another request."""
    row = tx.conn.execute("SELECT request_hash, answer FROM member_requests WHERE key = ?",
                          (key,)).fetchone()
    if row is None:
        return None
    if row[0] != req_hash:
        raise DomainError("idempotency_key_reused", {"key": key})
    answer: dict[str, Any] = json.loads(row[1])
    return answer


def _remember(tx: Tx, key: str, req_hash: str, answer: dict[str, Any]) -> None:
    tx.conn.execute("INSERT INTO member_requests(key, request_hash, answer, created_at) "
                    "VALUES (?,?,?,?)", (key, req_hash, json.dumps(answer), iso(utc_now())))


# -- writes ---------------------------------------------------------------------------------
def create_member(tx: Tx, profile: dict[str, Any], identities: list[dict[str, Any]], key: str,
                  req_hash: str, referral: str | None = None) -> tuple[dict[str, Any], bool]:
    """A member first seen at this store (offline too): ``member.created`` goes up to HQ,
    with the ``referral`` code the guest joined with (HQ checks it and rewards both)."""
    first = replayed(tx, key, req_hash)
    if first is not None:
        return first, True
    for identity in identities:
        owner = by_idhash(tx.conn, identity["idhash"])
        if owner is not None:
            raise Conflict("member_exists", {"member": owner, "kind": identity["kind"]})
    at, hlc = iso(utc_now()), tx.outbox.hlc.now()
    member = {"id": new_ulid(), "origin": tx.outbox.store_id, **profile, "created_at": at,
              "hlc": hlc}
    tx.conn.execute(
        f"INSERT INTO members(id, origin, created_at, {_PROFILE}, {_PROFILE_HLCS}) "
        f"VALUES (?,?,?{',?' * 2 * len(PROFILE_FIELDS)})",
        (member["id"], member["origin"], at, *(profile.get(f) for f in PROFILE_FIELDS),
         *(hlc for _ in PROFILE_FIELDS)))
    _add_identities(tx.conn, member["id"], identities)
    tx.emit("member.created", {"member": member, "identities": identities,
                               **({"referral": referral} if referral else {})})
    view = member_view(tx.conn, member["id"], at)
    assert view is not None
    _remember(tx, key, req_hash, view)
    return view, False


def _add_identities(conn: sqlite3.Connection, member: str, identities: list[dict[str, Any]]
                    ) -> None:
    conn.executemany("DELETE FROM member_sought WHERE idhash = ?",
                     [(i["idhash"],) for i in identities])
    conn.executemany(
        "INSERT INTO member_identities(idhash, kind, member, last4) VALUES (?,?,?,?) "
        "ON CONFLICT(idhash) DO UPDATE SET member = excluded.member, kind = excluded.kind, "
        "last4 = COALESCE(excluded.last4, last4)",
        [(i["idhash"], i["kind"], member, i.get("last4")) for i in identities])


def add_identity(tx: Tx, member: str, identity: dict[str, Any], key: str, req_hash: str
                 ) -> tuple[dict[str, Any], bool]:
    """Another identifier of a known member: ``member.identity_added`` goes up to HQ.

    One the member already has answers without an event; one of another member is 409
    ``identity_taken`` (HQ merges identities seen at different stores; here we refuse).
    Returns the answer and whether the identity was added now.
    """
    first = replayed(tx, key, req_hash)
    if first is not None:
        return first, False
    member = _known_member(tx.conn, member)
    owner = by_idhash(tx.conn, identity["idhash"])
    if owner is not None and owner != member:
        raise Conflict("identity_taken", {"member": owner, "kind": identity["kind"]})
    if owner is None:
        _add_identities(tx.conn, member, [identity])
        tx.emit("member.identity_added", {"member": member, "identity": identity})
    view = member_view(tx.conn, member)
    assert view is not None
    _remember(tx, key, req_hash, view)
    return view, owner is None


def change_profile(tx: Tx, member: str, fields: dict[str, Any], key: str, req_hash: str
                   ) -> tuple[dict[str, Any], bool]:
    """Profile edits at the till, per field last-writer-wins by HLC like HQ's
    ``member.upsert``: ``member.profile_changed`` goes up to HQ. The edit's HLC follows the
    HLCs of the fields it replaces (the till saw them), so it wins here."""
    first = replayed(tx, key, req_hash)
    if first is not None:
        return first, True
    if not fields or not set(fields) <= set(PROFILE_FIELDS):
        raise DomainError("invalid_profile", {"fields": sorted(fields)[:5],
                                              "allowed": list(PROFILE_FIELDS)})
    member = _known_member(tx.conn, member)
    columns = ", ".join(f"{field}_hlc" for field in fields)
    row = tx.conn.execute(f"SELECT {columns} FROM members WHERE id = ?", (member,)).fetchone()
    for field, seen in zip(fields, row):
        try:
            tx.outbox.hlc.observe(seen)
        except ClockDrift as exc:  # the edit could not win against it: say so, write nothing
            raise Conflict("clock_drift", {"field": field, "hlc": seen,
                                           "max_drift_ms": exc.max_drift_ms}) from exc
        except ValueError:  # '' (never set) or not an HLC: nothing to follow
            pass
    hlc = tx.outbox.hlc.now()
    set_fields(tx.conn, member, fields, hlc)
    tx.emit("member.profile_changed", {"member": member, "fields": fields, "hlc": hlc})
    view = member_view(tx.conn, member)
    assert view is not None
    _remember(tx, key, req_hash, view)
    return view, False


def set_fields(conn: sqlite3.Connection, member: str, fields: dict[str, Any], hlc: str) -> None:
    """Profile fields, each kept only when ``hlc`` is newer than the field's (per field LWW)."""
    for field in PROFILE_FIELDS:
        if field in fields:
            conn.execute(f"UPDATE members SET {field} = ?, {field}_hlc = ? "
                         f"WHERE id = ? AND {field}_hlc < ?", (fields[field], hlc, member, hlc))


def record_view(tx: Tx, member: str, skus: list[str]) -> dict[str, Any]:
    """A member viewed these items (mini-program, POS suggestions): ``member.viewed``."""
    member = _known_member(tx.conn, member)
    marks = ",".join("?" * len(skus))
    known = {row[0] for row in tx.conn.execute(
        f"SELECT sku FROM items WHERE sku IN ({marks})", skus)}
    unknown = [sku for sku in skus if sku not in known]
    if unknown:
        raise DomainError("unknown_sku", {"skus": unknown})
    data = {"member": member, "skus": skus}
    tx.emit("member.viewed", data)
    return data


def record_consents(tx: Tx, member: str, consents: dict[str, bool], source: str
                    ) -> dict[str, Any]:
    """The member granted or withdrew consent at the till (or a guest page): kept at HQ,
    which applies it to the automation at once (``member.consent_changed``)."""
    member = _known_member(tx.conn, member)
    data = {"member": member, "consents": consents, "at": iso(utc_now()), "source": source}
    tx.emit("member.consent_changed", data)
    return data


def record_lookups(tx: Tx, looked_up: list[str]) -> None:
    """Tills looked these members up: HQ grants or tops up this store's leases."""
    for member in looked_up:
        tx.emit("member.lookup", {"member": member})


def record_sought(tx: Tx, identity: dict[str, Any]) -> str:
    """A till met an identity this store does not know: ``member.sought`` asks HQ for the
    member that has it (HQ sends its state, or ``member.unknown``); when it was asked."""
    now = utc_now()
    at = iso(now)
    tx.conn.execute("DELETE FROM member_sought WHERE asked_at < ?",
                    (iso(now - timedelta(seconds=SOUGHT_KEEP_S)),))
    tx.conn.execute("INSERT INTO member_sought(idhash, asked_at) VALUES (?, ?) "
                    "ON CONFLICT(idhash) DO UPDATE SET asked_at = excluded.asked_at, "
                    "answered_at = NULL", (identity["idhash"], at))
    tx.emit(MEMBER_SOUGHT, {"identity": {"kind": identity["kind"],
                                         "idhash": identity["idhash"]}})
    return at


def hq_said_unknown(conn: sqlite3.Connection, idhash: str, asked_at: str) -> bool:
    """HQ answered the question asked at ``asked_at``: no member has the identity."""
    return conn.execute("SELECT 1 FROM member_sought WHERE idhash = ? AND asked_at = ? AND "
                        "answered_at IS NOT NULL", (idhash, asked_at)).fetchone() is not None


def _known_member(conn: sqlite3.Connection, member: str) -> str:
    member = resolve(conn, member)
    if conn.execute("SELECT 1 FROM members WHERE id = ?", (member,)).fetchone() is None:
        raise NotFound("unknown_member", {"member": member})
    return member


def _entry(tx: Tx, member: str, account: str, kind: str, amount: int, *,
           order_id: str | None = None, lease_id: str | None = None) -> dict[str, Any]:
    at = iso(utc_now())
    entry: dict[str, Any] = {"entry_id": new_ulid(), "member": member, "account": account, "kind": kind,
             "amount": amount, "store": tx.outbox.store_id, "order_id": order_id,
             "lease_id": lease_id, "at": at, "hlc": tx.outbox.hlc.now()}
    insert_entry(tx.conn, entry)
    tx.emit("ledger.entry", entry, at=at)
    return entry


def reverse_points(tx: Tx, order: dict[str, Any]) -> None:
    """A cancelled order gives back the points it earned (an ``adjust`` entry, never an edit).

    If the member spent them meanwhile the balance may go below zero: that stays visible
    (HQ records an ``overspend`` conflict) rather than being hidden. Coupons the order used are
    not returned (the store's policy; HQ already counts them as redeemed).
    """
    earned, member = order.get("points_earned"), order.get("member")
    if earned and member:
        _entry(tx, resolve(tx.conn, member), "points", "adjust", -int(earned),
               order_id=order["id"])


def insert_entry(conn: sqlite3.Connection, entry: dict[str, Any]) -> bool:
    """Insert a ledger entry once (UNIQUE entry_id); False if it was there already."""
    return bool(conn.execute(
        "INSERT INTO ledger_entries(entry_id, member, account, kind, amount, store, order_id, "
        "lease_id, at, hlc) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(entry_id) DO NOTHING",
        (entry["entry_id"], entry["member"], entry["account"], entry["kind"], entry["amount"],
         entry["store"], entry.get("order_id"), entry.get("lease_id"), entry["at"],
         entry["hlc"])).rowcount)


def redeem(tx: Tx, member: str, account: str, amount: int, order_id: str | None, key: str,
           req_hash: str) -> tuple[dict[str, Any], bool]:
    """Spend points or stored value, drawn from this store's lease for the member."""
    first = replayed(tx, key, req_hash)
    if first is not None:
        return first, True
    member = _known_member(tx.conn, member)
    if order_id is not None and tx.conn.execute(
            "SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is None:
        raise NotFound("unknown_order", {"id": order_id})
    now = iso(utc_now())
    lease = live_lease(tx.conn, member, now)
    suffix = "points" if account == "points" else "value_cents"
    allowance = rules.Allowance(
        balances(tx.conn, member)[account], lease[suffix] if lease else 0,
        lease["per_txn_" + suffix] if lease else 0)
    rules.check_spend(account, amount, allowance)
    assert lease is not None  # check_spend refuses any spend without a lease
    entry = _entry(tx, member, account, rules.SPEND_KIND[account], -amount, order_id=order_id,
                   lease_id=lease["lease_id"])
    answer = {"entry": entry, "member": member_view(tx.conn, member, now)}
    _remember(tx, key, req_hash, answer)
    return answer, False


def topup(tx: Tx, member: str, value_cents: int, tender: str, key: str, req_hash: str
          ) -> tuple[dict[str, Any], bool]:
    """Stored value paid in at the till: raises the store's known balance, not the lease."""
    first = replayed(tx, key, req_hash)
    if first is not None:
        return first, True
    member = _known_member(tx.conn, member)
    entry = _entry(tx, member, "value", "topup", value_cents)
    answer = {"entry": entry, "tender": tender, "member": member_view(tx.conn, member)}
    _remember(tx, key, req_hash, answer)
    return answer, False


# -- order create: attach a member, apply coupons, earn points -----------------------------------
class Perks(NamedTuple):
    member: str | None
    discount_cents: int
    codes: list[str]
    points: int | None  # None: no member attached


def order_perks(tx: Tx, req: dict[str, Any], channel: str, at: str,
                unit_prices: dict[str, int], subtotal: int) -> Perks:
    """Check the order's member and coupons (refusing the order when one is not usable)."""
    conn = tx.conn
    member = _attached(conn, req["member"]) if req.get("member") is not None else None
    codes: list[str] = list(req.get("coupons") or ())
    if len(set(codes)) != len(codes):
        raise DomainError("duplicate_coupon", {"coupons": codes})
    uses, groups = [], []
    for code in codes:
        row = conn.execute(
            "SELECT c.code, c.template_id, c.member, c.state, t.data FROM coupons c "
            "LEFT JOIN coupon_templates t USING (template_id) WHERE c.code = ?",
            (code,)).fetchone()
        if row is None:
            raise DomainError("unknown_coupon", {"code": code})
        template = json.loads(row[4]) if row[4] else None
        coupon = {"code": row[0], "template_id": row[1],
                  "member": resolve(conn, row[2]) if row[2] else None, "state": row[3]}
        uses.append(rules.coupon_discount(
            coupon, template, member=member, channel=channel, store=tx.outbox.store_id,
            now=at, subtotal_cents=subtotal, unit_prices=unit_prices))
        groups.append(template.get("exclusive_group") if template else None)
    discount = rules.total_discount(uses, groups, subtotal)
    points = None
    if member is not None:
        points = rules.earn_points(subtotal - discount, channel, loyalty_rules(conn),
                                   tx.outbox.store_id)
    return Perks(member, discount, codes, points)


def _attached(conn: sqlite3.Connection, member: str) -> str:
    resolved = resolve(conn, member)
    if conn.execute("SELECT 1 FROM members WHERE id = ?", (resolved,)).fetchone() is None:
        raise DomainError("unknown_member", {"member": member})
    return resolved


def loyalty_rules(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT rules FROM loyalty_rules WHERE id = 1").fetchone()
    return json.loads(row[0]) if row else None


def record_perks(tx: Tx, order: dict[str, Any], perks: Perks) -> None:
    """After ``order.placed``: the coupons' redemptions and the points earned, same tx."""
    store, at = tx.outbox.store_id, order["created_at"]
    for code in perks.codes:
        done = tx.conn.execute(
            "UPDATE coupons SET state = 'redeemed', redeemed_at = ?, redeemed_store = ?, "
            "order_id = ? WHERE code = ? AND state = 'issued'", (at, store, order["id"], code))
        if not done.rowcount:
            raise Conflict("coupon_used", {"code": code})
        tx.emit("coupon.redeemed", {"code": code, "member": perks.member, "order_id": order["id"],
                                    "store": store, "at": at, "hlc": tx.outbox.hlc.now()}, at=at)
    if perks.member is not None and perks.points:
        _entry(tx, perks.member, "points", "earn", perks.points, order_id=order["id"])
