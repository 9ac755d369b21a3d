"""Automation triggers and job schedules as data, and their settings.

Each trigger run finds its candidates (SQL in ``cloud/db/analytics``) and records one
``automation_runs`` row per ``(trigger, member, period)``: a UNIQUE key, so running a trigger
twice (or on two workers at once) never sends twice.

The action: a coupon of the trigger's template, when HQ has a coupon template of that id;
with no template configured (``""``), or one HQ does not have, the run records the intended
action (outcome ``recorded``) and sends nothing.

Settings of a job (``JOBS``): its ``schedule`` and, for a trigger, its ``template`` and
thresholds. Where each comes from, the first that has it: what the HQ API stored
(``PUT /api/v1/automation/{job}/settings``, table ``hq_settings`` key ``automation.<job>``),
``cloud.toml`` (``[scheduler] <job>``, ``[automation] <trigger>_<setting>``), the defaults
here. ``check`` validates a settings object wherever it comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

TEMPLATE_ID: Final = re.compile(r"^(|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?!\n)$")  # "": none
OFF: Final = "off"
_EVERY: Final = re.compile(r"^every ([1-9][0-9]{0,6})(s|m|h)(?!\n)$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600}
MAX_EVERY_S: Final = 31 * 86400


@dataclass(frozen=True)
class Trigger:
    name: str
    template: str      # the default coupon template id ("" = record only)
    summary: str
    # threshold name -> (default, low, high)
    params: dict[str, tuple[int, int, int]] = field(default_factory=dict)


TRIGGERS: Final[dict[str, Trigger]] = {t.name: t for t in (
    Trigger("birthday", "auto-birthday",
            "members whose birthday month is this month; once per member and month"),
    Trigger("winback", "auto-winback",
            "no order for lapsed_days; once per member and last order (a new lapse, a new "
            "run)", {"lapsed_days": (60, 1, 3650)}),
    Trigger("viewed_not_bought", "auto-viewed",
            "a member.viewed with no order by that member within window_h on either side; "
            "views older than lookback_days are not acted on; once per member and day of "
            "the view", {"window_h": (24, 1, 168), "lookback_days": (7, 1, 90)}),
)}
# job -> default schedule (UTC crontab, "every N s|m|h", or "off")
SCHEDULES: Final[dict[str, str]] = {
    "rfm": "30 0 * * *",
    "reco_pairs": "30 3 * * *",
    "birthday": "5 1 1 * *",
    "winback": "5 2 * * *",
    "viewed_not_bought": "15 * * * *",
    "channel_months": "every 15m",  # the stored monthly channel report: last and this month
    # partitions ahead, raw events past the retention archived, feed and conflicts pruned
    # (cloud/storage/retention.py; the retention itself is [storage] of cloud.toml)
    "events_retention": "10 * * * *",
}
JOBS: Final = tuple(SCHEDULES)


def parse_schedule(text: str) -> BaseTrigger | None:
    """An apscheduler trigger (UTC) for a schedule; None for ``off``; ValueError otherwise.

    ``"M H DOM MON DOW"`` (crontab, 5 fields) or ``"every N s|m|h"`` (1 s to 31 days)."""
    if not isinstance(text, str) or len(text) > 100:
        raise ValueError("a schedule is a string")
    if text == OFF:
        return None
    every = _EVERY.match(text)
    if every:
        seconds = int(every[1]) * _UNIT_S[every[2]]
        if seconds > MAX_EVERY_S:
            raise ValueError(f"every: at most {MAX_EVERY_S} s")
        return IntervalTrigger(seconds=seconds, timezone="UTC")
    if len(text.split()) != 5:
        raise ValueError(f"{text!r}: a 5-field crontab (M H DOM MON DOW), 'every N s|m|h' "
                         "or 'off'")
    try:
        return CronTrigger.from_crontab(text, timezone="UTC")
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{text!r}: {exc}") from exc


def defaults(job: str) -> dict[str, Any]:
    """The built-in settings of ``job``."""
    found: dict[str, Any] = {"schedule": SCHEDULES[job]}
    trigger = TRIGGERS.get(job)
    if trigger is not None:
        found["template"] = trigger.template
        found.update({name: spec[0] for name, spec in trigger.params.items()})
    return found


def check(job: str, values: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with (partial) settings of ``job``: ``[{path, message}]``, empty if
    nothing. ``None`` values are allowed (they unset an API override)."""
    known = defaults(job)
    errors = [{"path": key, "message": f"not a setting of {job}; known: {sorted(known)}"}
              for key in values if key not in known]
    for key, value in values.items():
        if key not in known or value is None:
            continue
        if key == "schedule":
            try:
                parse_schedule(value)
            except ValueError as exc:
                errors.append({"path": key, "message": str(exc)})
        elif key == "template":
            if not isinstance(value, str) or not TEMPLATE_ID.match(value):
                errors.append({"path": key, "message": "a coupon template id, or \"\" "
                                                       "(record only)"})
        else:
            _, low, high = TRIGGERS[job].params[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors.append({"path": key, "message": f"an integer from {low} to {high}"})
    if job == "viewed_not_bought":
        merged = {**known, **{k: v for k, v in values.items() if v is not None}}
        if not errors and merged["lookback_days"] * 24 <= merged["window_h"]:
            errors.append({"path": "lookback_days",
                           "message": "must be longer than window_h (views are acted on "
                                      "once window_h has passed)"})
    return errors


def effective(job: str, config: dict[str, Any] | None,
              stored: dict[str, Any] | None) -> dict[str, Any]:
    """``job``'s settings: the stored overrides over ``cloud.toml``'s over the defaults."""
    merged = defaults(job)
    for layer in (config or {}, stored or {}):
        merged.update({k: v for k, v in layer.items() if k in merged and v is not None})
    return merged


def previous_fire(trigger: BaseTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The latest time ``trigger`` fires at or before ``now``, no earlier than ``within`` ago."""
    found = None
    moment = trigger.get_next_fire_time(None, now - within)
    while moment is not None and moment <= now:
        found = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return found


# -- cloud.toml ----------------------------------------------------------------------------
LEASE_TTL: Final = ("lease_ttl_s", 60, 5, 3600)  # [scheduler] key, default, low, high


def config_schema() -> dict[str, dict[str, tuple[type, Any]]]:
    """The ``[scheduler]`` and ``[automation]`` sections of ``cloud.toml`` (cloud.config)."""
    automation: dict[str, tuple[type, Any]] = {}
    for name in TRIGGERS:
        for key, value in defaults(name).items():
            if key != "schedule":
                automation[f"{name}_{key}"] = (type(value), value)
    scheduler: dict[str, tuple[type, Any]] = {LEASE_TTL[0]: (int, LEASE_TTL[1])}
    scheduler.update({job: (str, schedule) for job, schedule in SCHEDULES.items()})
    return {"scheduler": scheduler, "automation": automation}


def from_config(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{job: settings} from the flat ``section.key`` values of ``cloud.toml``."""
    jobs: dict[str, dict[str, Any]] = {}
    for job in JOBS:
        found = {"schedule": values[f"scheduler.{job}"]}
        if job in TRIGGERS:
            found.update({key: values[f"automation.{job}_{key}"] for key in defaults(job)
                          if key != "schedule"})
        jobs[job] = found
    return jobs
