"""Automation triggers as data. Each run finds its candidates (SQL in ``cloud/db/analytics``)
and records one ``automation_runs`` row per ``(trigger, member, period)``: a UNIQUE key, so
running a trigger twice (or on two workers at once) never sends twice.

The action: a coupon of the trigger's template, when HQ has a coupon template of that id
(``PUT /api/v1/coupons/templates/auto-birthday`` configures it); without one the run records
the intended action (outcome ``recorded``) and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Trigger:
    name: str
    template: str      # coupon template id issued when it exists
    summary: str
    cron: dict[str, int | str]  # apscheduler CronTrigger fields (UTC)


TRIGGERS: Final[dict[str, Trigger]] = {t.name: t for t in (
    Trigger("birthday", "auto-birthday",
            "members whose birthday month is this month; once per member and month",
            {"day": 1, "hour": 1, "minute": 5}),
    Trigger("winback", "auto-winback",
            "no order for LAPSED_DAYS; once per member and last order (a new lapse, a new run)",
            {"hour": 2, "minute": 5}),
    Trigger("viewed_not_bought", "auto-viewed",
            "a member.viewed with no order by that member within VIEW_WINDOW_H; once per "
            "member and day of the view", {"minute": 15}),
)}
LAPSED_DAYS: Final = 60
VIEW_WINDOW_H: Final = 24
VIEW_LOOKBACK_DAYS: Final = 7  # older views are not acted on any more
