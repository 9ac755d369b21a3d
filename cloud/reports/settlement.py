"""Partner settlement: the monthly statement between two outlets that share traffic
(docs/settlement.md). Pure rules over the figures ``cloud/reports/settlement_sql.py`` reads.

All amounts are integer cents (fen); every division rounds **half up** to a whole cent (or a
whole basis point for the linear rate), and a split of one amount between the two partners
gives partner B the remainder, so the parts always add up to the whole.
"""

from __future__ import annotations

import calendar
import csv
import html
import io
import re
from dataclasses import dataclass, field
from typing import Any, Final

MONTH: Final = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])(?!\n)$")  # \d: "٢" too
MODES: Final = ("linear", "stepped")
_SKU: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ROUNDING: Final = "integer cents; each division rounds half up; B gets the remainder of a split"


def config_schema() -> dict[str, dict[str, tuple[type, Any]]]:
    return {"settlement": {
        "partner_a": (str, ""), "partner_b": (str, ""),
        "tier_low_visitors": (int, 500), "tier_high_visitors": (int, 800),
        "tier_low_bp": (int, 1500), "tier_mid_bp": (int, 2000), "tier_high_bp": (int, 2500),
        "tier_mode": (str, "linear"), "reserve_bp": (int, 1000), "shared_items": (str, ""),
    }}


@dataclass(frozen=True)
class Rules:
    partner_a: str = ""
    partner_b: str = ""
    tier_low_visitors: int = 500     # shared visitors a day: below it, tier_low_bp
    tier_high_visitors: int = 800    # above it, tier_high_bp
    tier_low_bp: int = 1500
    tier_mid_bp: int = 2000          # stepped: between the two thresholds
    tier_high_bp: int = 2500
    tier_mode: str = "linear"
    reserve_bp: int = 1000
    shared_items: dict[str, int] = field(default_factory=dict)  # SKU -> month's cost, cents


def parse_shared_items(text: str) -> dict[str, int]:
    """``"SKU=CENTS,SKU2=CENTS"`` -> {sku: cents}; ValueError naming the bad entry."""
    items: dict[str, int] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        sku, sep, cents = (p.strip() for p in entry.partition("="))
        if not sep or not _SKU.match(sku) or not (cents.isascii() and cents.isdigit()) \
                or len(cents) > 12:
            raise ValueError(f"{entry!r} is not SKU=CENTS")
        items[sku] = int(cents)
    return items


def check(values: dict[str, Any]) -> list[str]:
    problems = []

    def get(key: str) -> Any:
        return values[f"settlement.{key}"]

    for key in ("tier_low_bp", "tier_mid_bp", "tier_high_bp", "reserve_bp"):
        if not 0 <= get(key) <= 10_000:
            problems.append(f"settlement.{key} must be between 0 and 10000")
    if not 0 <= get("tier_low_visitors") <= get("tier_high_visitors") <= 10**7:
        problems.append("settlement.tier_low_visitors must be >= 0 and <= tier_high_visitors")
    if get("tier_mode") not in MODES:
        problems.append(f"settlement.tier_mode must be one of {list(MODES)}")
    try:
        parse_shared_items(get("shared_items"))
    except ValueError as exc:
        problems.append(f"settlement.shared_items: {exc}")
    return problems


def from_config(values: dict[str, Any]) -> Rules:
    keys = config_schema()["settlement"]
    given = {k: values[f"settlement.{k}"] for k in keys if k != "shared_items"}
    return Rules(**given, shared_items=parse_shared_items(values["settlement.shared_items"]))


def half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up (both >= 0, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def month_bounds(month: str) -> tuple[str, str, int]:
    """``2026-10`` -> ("2026-10-01", "2026-11-01", 31); ValueError otherwise."""
    found = MONTH.match(month)
    if not found:
        raise ValueError(f"month {month!r} is not YYYY-MM")
    year, mon = int(found[1]), int(found[2])
    if not 1 <= year < 9999:  # the month and the one after are dates (no year 0 or 10000)
        raise ValueError(f"month {month!r} is not from 0001-01 to 9998-12")
    days = calendar.monthrange(year, mon)[1]
    after = f"{year + 1:04d}-01-01" if mon == 12 else f"{year:04d}-{mon + 1:02d}-01"
    return f"{month}-01", after, days


def rate_bp(rules: Rules, shared_visitor_days: int, days: int) -> int:
    """The revenue share rate for an average of ``shared_visitor_days / days`` a day.

    Below ``tier_low_visitors``: the low rate; above ``tier_high_visitors``: the high rate;
    from one to the other inclusive: ``tier_mid_bp`` (stepped) or the straight line from the
    low to the high rate (linear, rounded half up to a basis point).
    """
    low, high = rules.tier_low_visitors * days, rules.tier_high_visitors * days
    if shared_visitor_days < low:
        return rules.tier_low_bp
    if shared_visitor_days > high:
        return rules.tier_high_bp
    if rules.tier_mode == "stepped":
        return rules.tier_mid_bp
    if high == low:
        return rules.tier_high_bp
    step = rules.tier_high_bp - rules.tier_low_bp
    moved = step * (shared_visitor_days - low)
    sign = 1 if moved >= 0 else -1
    return rules.tier_low_bp + sign * half_up(abs(moved), high - low)


def split(amount: int, usage_a: int, usage_b: int) -> tuple[int, int]:
    """``amount`` by usage (half each when neither used it); B gets the remainder."""
    share_a = half_up(amount * usage_a, usage_a + usage_b) if usage_a + usage_b else \
        half_up(amount, 2)
    return share_a, amount - share_a


def statement(rules: Rules, month: str, a: str, b: str, figures: dict[str, Any]) -> dict[str, Any]:
    """The statement from ``figures`` (``cloud/reports/settlement_sql.py``). Partner A fronts the
    shared items' costs; B's share of them is owed to A."""
    _, _, days = month_bounds(month)
    daily = figures["daily"]
    visitor_days = sum(d["shared_visitors"] for d in daily)
    rate = rate_bp(rules, visitor_days, days)
    revenue = {s: figures["revenue"].get(s, {"revenue_cents": 0, "orders": 0}) for s in (a, b)}
    shared_cents = {s: figures["shared_revenue"].get(s, 0) for s in (a, b)}
    share = {f"{a}_owes_{b}": half_up(shared_cents[a] * rate, 10_000),
             f"{b}_owes_{a}": half_up(shared_cents[b] * rate, 10_000)}
    costs: list[dict[str, Any]] = []
    for sku, cost in sorted(rules.shared_items.items()):
        usage = figures["usage"].get(sku, {})
        ua, ub = int(usage.get(a, 0)), int(usage.get(b, 0))
        part_a, part_b = split(cost, ua, ub)
        costs.append({"sku": sku, "cost_cents": cost, "usage": {a: ua, b: ub},
                      "share_cents": {a: part_a, b: part_b}})
    b_cost = sum(c["share_cents"][b] for c in costs)
    b_to_a = share[f"{b}_owes_{a}"] + b_cost - share[f"{a}_owes_{b}"]
    payer, payee = (b, a) if b_to_a >= 0 else (a, b)
    amount = abs(b_to_a)
    reserve = half_up(amount * rules.reserve_bp, 10_000)
    return {
        "month": month, "partners": {"a": a, "b": b}, "days": days,
        "shared_visitors": {"total": visitor_days,
                            "per_day": round(visitor_days / days, 2), "daily": daily},
        "tier": {"mode": rules.tier_mode, "rate_bp": rate,
                 "low": [rules.tier_low_visitors, rules.tier_low_bp],
                 "high": [rules.tier_high_visitors, rules.tier_high_bp]},
        "revenue": {s: {**revenue[s], "shared_cents": shared_cents[s]} for s in (a, b)},
        "revenue_share_cents": share,
        "shared_costs": costs, "cost_share_cents": {b: b_cost},
        "net": {"payer": payer, "payee": payee, "amount_cents": amount},
        "reserve_bp": rules.reserve_bp, "reserve_cents": reserve,
        "payable_cents": amount - reserve, "rounding": ROUNDING,
    }


def lines(doc: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The statement as (section, item, value) rows: the CSV and the printable page."""
    a, b = doc["partners"]["a"], doc["partners"]["b"]
    rows: list[tuple[str, str, Any]] = [
        ("statement", "month", doc["month"]), ("statement", "partner_a", a),
        ("statement", "partner_b", b), ("statement", "days", doc["days"]),
        ("visitors", "shared_visitor_days", doc["shared_visitors"]["total"]),
        ("visitors", "shared_visitors_per_day", doc["shared_visitors"]["per_day"]),
        ("tier", "mode", doc["tier"]["mode"]), ("tier", "rate_bp", doc["tier"]["rate_bp"])]
    for s in (a, b):
        figures = doc["revenue"][s]
        rows += [("revenue", f"{s}.revenue_cents", figures["revenue_cents"]),
                 ("revenue", f"{s}.orders", figures["orders"]),
                 ("revenue", f"{s}.shared_cents", figures["shared_cents"])]
    rows += [("revenue_share", k, v) for k, v in doc["revenue_share_cents"].items()]
    for cost in doc["shared_costs"]:
        rows += [("shared_cost", f"{cost['sku']}.cost_cents", cost["cost_cents"])]
        rows += [("shared_cost", f"{cost['sku']}.{s}.usage", cost["usage"][s]) for s in (a, b)]
        rows += [("shared_cost", f"{cost['sku']}.{s}.share_cents", cost["share_cents"][s])
                 for s in (a, b)]
    rows += [("cost_share", f"{b}_owes_{a}", doc["cost_share_cents"][b]),
             ("net", "payer", doc["net"]["payer"]), ("net", "payee", doc["net"]["payee"]),
             ("net", "amount_cents", doc["net"]["amount_cents"]),
             ("net", "reserve_bp", doc["reserve_bp"]), ("net", "reserve_cents",
                                                        doc["reserve_cents"]),
             ("net", "payable_cents", doc["payable_cents"]), ("net", "rounding", doc["rounding"])]
    return rows


def to_csv(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "item", "value"))
    writer.writerows(lines(doc))
    return out.getvalue()


def yuan(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def to_html(doc: dict[str, Any]) -> str:
    """A printable page (A4, no scripts, no external resources)."""
    a, b = (html.escape(doc["partners"][k]) for k in ("a", "b"))
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(s)}</td><td>{esc(str(i))}</td><td class=n>"
        f"{esc(yuan(v) if i.endswith('_cents') and isinstance(v, int) else str(v))}</td></tr>"
        for s, i, v in lines(doc))
    daily = "".join(f"<tr><td>{esc(d['day'])}</td><td class=n>{d['shared_visitors']}</td></tr>"
                    for d in doc["shared_visitors"]["daily"])
    net = doc["net"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Settlement {esc(doc['month'])} {a} / {b}</title><style>"
        "body{font:11pt sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #999;padding:.2em .6em}.n{text-align:right}"
        "@page{size:A4;margin:15mm}@media print{body{margin:0}}</style></head><body>"
        f"<h1>Partner settlement {esc(doc['month'])}</h1><p>{a} and {b}: "
        f"<strong>{esc(net['payer'])} pays {esc(net['payee'])} "
        f"{yuan(doc['payable_cents'])}</strong> now ({yuan(net['amount_cents'])} less a reserve "
        f"of {yuan(doc['reserve_cents'])}). Amounts in yuan; {esc(doc['rounding'])}.</p>"
        f"<table><tr><th>section</th><th>item</th><th>value</th></tr>{rows}</table>"
        f"<h2>Shared visitors by day</h2><table><tr><th>day</th><th>visitors</th></tr>{daily}"
        "</table></body></html>")
