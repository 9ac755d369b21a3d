"""HQ's ``member.erased`` change (ARCHITECTURE §4f): the member and the members merged into
it lose their identities, name, birthday, bookings' names and phones and the store's
remembered answers about them, here and in every outbox copy; their id stays, anonymous, for
the ledger and the orders. ``secure_delete`` zeroes what is freed in this transaction, and
the writer checkpoints the WAL (TRUNCATE) after the commit that carries ``member.erased``
(edge/db/group_commit.py), so no copy stays in the file."""

from __future__ import annotations

import json
from typing import Any

from common.privacy import scrub

from edge.db.group_commit import ERASED, Tx


def apply_member_erased(tx: Tx, data: dict[str, Any]) -> None:
    tx.conn.execute("PRAGMA secure_delete=ON")
    ids = list(dict.fromkeys([data["member"], *data.get("ids", [])]))
    cur = tx.cur
    marks = ", ".join("?" * len(ids))
    idhashes = [r[0] for r in cur.execute(
        f"SELECT idhash FROM member_identities WHERE member IN ({marks})", ids).fetchall()]
    for idhash in idhashes:  # what the tills asked HQ about them (member.sought)
        cur.execute("DELETE FROM member_sought WHERE idhash = ?", (idhash,))
        _scrub_outbox(tx, "type = 'member.sought'", idhash)
    for member in ids:
        cur.execute("DELETE FROM member_identities WHERE member = ?", (member,))
        cur.execute("UPDATE members SET name = NULL, birthday = NULL WHERE id = ?", (member,))
        cur.execute("DELETE FROM member_aliases WHERE alias = ? OR member = ?",
                    (member, member))
        cur.execute("DELETE FROM member_requests WHERE answer LIKE ?", (f"%{member}%",))
        cur.execute("UPDATE reservations SET name = '', phone = '', note = '', "
                    "member_id = NULL WHERE member_id = ?", (member,))
        _scrub_outbox(tx, "(type LIKE 'member.%' OR type LIKE 'reservation.%')", member)
    tx.emit(ERASED, {"member": data["member"], "ids": ids})


def _scrub_outbox(tx: Tx, types: str, name: str) -> None:
    """Scrub the outbox copies of the events (``types``: a condition) whose data names it."""
    for table in ("outbox", "outbox_prior"):
        for seq, text in tx.cur.execute(f"SELECT seq, data FROM {table} WHERE {types} "
                                        "AND data LIKE ?", (f"%{name}%",)).fetchall():
            scrubbed = {**scrub(json.loads(text)), "erased": True}
            tx.conn.execute(f"UPDATE {table} SET data = ? WHERE seq = ?",
                            (json.dumps(scrubbed, ensure_ascii=False), seq))
