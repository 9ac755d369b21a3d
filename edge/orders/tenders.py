"""How an order is paid: cash (change given), card (terminal reference), stored value and
points (spent from the member's lease). Pure rules; no payment gateway."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from common.errors import DomainError

TENDER_KINDS: Final[tuple[str, ...]] = ("cash", "card", "stored_value", "points")
# tender kind -> the member ledger account it spends from
MEMBER_ACCOUNTS: Final[dict[str, str]] = {"stored_value": "value", "points": "points"}


def settle(total_cents: int, tenders: Sequence[dict[str, Any]], has_member: bool) -> int:
    """Check that ``tenders`` pay ``total_cents`` and return the change (given in cash only).
    Card needs its terminal reference, points the number of points; stored value and points
    need a member on the order; only cash may be more than what is due."""
    non_cash = 0
    paid = 0
    for n, tender in enumerate(tenders):
        kind = tender["kind"]
        if kind == "card" and not tender.get("ref"):
            raise DomainError("invalid_tender", {"tender": n, "card": "needs its terminal ref"})
        if (kind == "points") != ("points" in tender):
            raise DomainError("invalid_tender", {"tender": n, "points": "points tenders only"})
        if kind in MEMBER_ACCOUNTS and not has_member:
            raise DomainError("no_member", {"tender": n, "kind": kind})
        paid += int(tender["amount_cents"])
        if kind != "cash":
            non_cash += int(tender["amount_cents"])
    if non_cash > total_cents:
        raise DomainError("overpaid", {"due": total_cents, "non_cash": non_cash,
                                       "rule": "only cash gives change"})
    if paid < total_cents:
        raise DomainError("underpaid", {"due": total_cents, "paid": paid})
    return paid - total_cents


def member_spends(tenders: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Ledger account -> amount to spend (fen of stored value, points) for these tenders."""
    spends: dict[str, int] = {}
    for tender in tenders:
        account = MEMBER_ACCOUNTS.get(tender["kind"])
        if account is not None:
            amount = int(tender["points"] if account == "points" else tender["amount_cents"])
            spends[account] = spends.get(account, 0) + amount
    return spends
