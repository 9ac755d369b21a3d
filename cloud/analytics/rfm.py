"""RFM: recency (days since the last order), frequency (orders in the last 365 days) and
monetary (fen in the last 365 days), each scored 1–5 by quintile within the tenant, and the
segment rule table that names a member's (r, f, m) scores. The first matching rule wins;
together the rules cover every (r, f) pair, so no member is left without a segment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

WINDOW_DAYS: Final = 365
QUINTILES: Final = 5


@dataclass(frozen=True)
class SegmentRule:
    name: str
    r: tuple[int, int]  # inclusive score ranges
    f: tuple[int, int]
    m: tuple[int, int] = (1, 5)


SEGMENTS: Final[tuple[SegmentRule, ...]] = (
    SegmentRule("champions", r=(4, 5), f=(4, 5), m=(4, 5)),
    SegmentRule("loyal", r=(3, 5), f=(4, 5)),
    SegmentRule("new", r=(4, 5), f=(1, 1)),
    SegmentRule("potential", r=(3, 5), f=(1, 3)),
    SegmentRule("at_risk", r=(1, 2), f=(3, 5)),
    SegmentRule("hibernating", r=(2, 2), f=(1, 2)),
    SegmentRule("lapsed", r=(1, 1), f=(1, 2)),
)
SEGMENT_NAMES: Final = tuple(rule.name for rule in SEGMENTS)


def segment_of(r: int, f: int, m: int) -> str:
    """The segment the rule table gives (the SQL's CASE says the same)."""
    for rule in SEGMENTS:
        if (rule.r[0] <= r <= rule.r[1] and rule.f[0] <= f <= rule.f[1]
                and rule.m[0] <= m <= rule.m[1]):
            return rule.name
    raise ValueError(f"no segment for r={r} f={f} m={m}")


def case_sql(r: str = "r", f: str = "f", m: str = "m") -> str:
    """The rule table as one SQL ``CASE`` over the score columns (integers only: no input)."""
    whens = [f"WHEN {r} BETWEEN {x.r[0]} AND {x.r[1]} AND {f} BETWEEN {x.f[0]} AND {x.f[1]} "
             f"AND {m} BETWEEN {x.m[0]} AND {x.m[1]} THEN '{x.name}'" for x in SEGMENTS]
    return f"CASE {' '.join(whens)} ELSE 'other' END"
