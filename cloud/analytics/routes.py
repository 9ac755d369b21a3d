"""HQ analytics routes (docs/members.md, "Segments, automation, recommendations"): RFM
segment counts and a member's scores, automation triggers and their runs, "often bought
together" pairs. Reads any role; running a job now is hq_admin (the route table's rule)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from cloud import keys
from cloud.analytics import automation
from cloud.analytics.automation import TRIGGERS
from cloud.analytics.ops import AnalyticsOps
from cloud.analytics.reco import RecoParams
from cloud.analytics.sql import RUNS
from cloud.api import paging
from cloud.api.errors import ApiError
from cloud.api.schemas import read_body
from cloud.members.coupons import UnknownTemplate
from cloud.members.schemas import MEMBER_ID, path_member
from cloud.names import ID
from common.http.routes import Route

STORE_Q: Final = {"type": "string", "pattern": ID.pattern}
SEGMENTS_QUERY: Final[dict[str, dict[str, Any]]] = {"store": STORE_Q, "tenant": STORE_Q}
RUNS_QUERY: Final[dict[str, dict[str, Any]]] = paging.query(
    RUNS, trigger={"type": "string", "enum": list(TRIGGERS)},
    member={"type": "string", "pattern": MEMBER_ID.pattern})
BUNDLES_QUERY: Final[dict[str, dict[str, Any]]] = {
    "tenant": STORE_Q,
    "days": {"type": "integer", "minimum": 1, "maximum": 3660, "default": 90},
    "min_support": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.01},
    "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1},
    "limit": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500},
}


def _id_query(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and not ID.match(value):
        raise ApiError(400, "bad_query", {name: "an id ([a-z0-9_-], up to 63)"})
    return value


def _number(request: web.Request, name: str, default: float) -> float:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = float(text) if text.isascii() else -1.0  # float() reads "٠.٥" too
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ApiError(400, "bad_query", {name: "a number from 0 to 1"})
    return value


async def segments(request: web.Request) -> web.Response:
    store, tenant = _id_query(request, "store"), _id_query(request, "tenant")
    return web.json_response(await request.app[keys.DB].call(AnalyticsOps.segment_counts, store, tenant))


async def member_rfm(request: web.Request) -> web.Response:
    member = path_member(request)
    row = await request.app[keys.DB].call(AnalyticsOps.member_rfm, member)
    if row is None:
        raise ApiError(404, "no_rfm", f"{member}: unknown, or no order before the last "
                                      "RFM computation")
    return web.json_response(row)


async def compute_rfm(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.ANALYTICS].rfm())


async def run_trigger(request: web.Request) -> web.Response:
    trigger = request.match_info["trigger"]
    if trigger not in TRIGGERS:
        raise ApiError(404, "unknown_trigger", {"trigger": trigger[:100],
                                                "known": sorted(TRIGGERS)})
    return web.json_response(await request.app[keys.ANALYTICS].run_trigger(trigger))


async def automation_runs(request: web.Request) -> web.Response:
    trigger, member = request.query.get("trigger"), request.query.get("member")
    if trigger is not None and trigger not in TRIGGERS:
        raise ApiError(400, "bad_query", {"trigger": f"one of {sorted(TRIGGERS)}"})
    if member is not None and not MEMBER_ID.match(member):
        raise ApiError(400, "bad_query", {"member": "a member id (ULID)"})
    found = paging.page(request, RUNS)
    runs = await request.app[keys.DB].call(AnalyticsOps.automation_runs, trigger, member,
                                           found.fetch, found.after)
    return paging.respond(request, found, runs)


def _reco_params(request: web.Request) -> RecoParams:
    return RecoParams(days=_integer(request, "days", 90, 3660),
                      min_support=_number(request, "min_support", 0.01),
                      min_confidence=_number(request, "min_confidence", 0.1),
                      limit=_integer(request, "limit", 500, 10_000))


def _integer(request: web.Request, name: str, default: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= high:
        raise ApiError(400, "bad_query", {name: f"an integer from 1 to {high}"})
    return int(text)


SETTINGS_BODY: Final[dict[str, Any]] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "schedule": {"type": ["string", "null"], "maxLength": 100,
                     "description": "UTC crontab (M H DOM MON DOW), 'every N s|m|h' or 'off'"},
        "template": {"type": ["string", "null"], "pattern": automation.TEMPLATE_ID.pattern,
                     "description": "coupon template id; \"\": record only"},
        **{param: {"type": ["integer", "null"], "minimum": low, "maximum": high}
           for trigger in TRIGGERS.values()
           for param, (_, low, high) in trigger.params.items()},
    },
}


async def automation_settings(request: web.Request) -> web.Response:
    analytics = request.app[keys.ANALYTICS]
    stored = await analytics.runner.call(AnalyticsOps.automation_overrides)
    found = await analytics.settings()
    return web.json_response({job: {**settings, "overridden": sorted(stored.get(job, {}))}
                              for job, settings in found.items()})


async def put_automation_settings(request: web.Request) -> web.Response:
    job = request.match_info["job"]
    if job not in automation.JOBS:
        raise ApiError(404, "unknown_job", {"job": job[:100], "known": list(automation.JOBS)})
    body = await read_body(request, SETTINGS_BODY)
    errors = automation.check(job, body)
    analytics = request.app[keys.ANALYTICS]
    if not errors:  # the settings it would make (viewed_not_bought's two bounds)
        stored = (await analytics.runner.call(AnalyticsOps.automation_overrides)).get(job, {})
        errors = automation.check(job, automation.effective(
            job, analytics.config.get(job), {**stored, **body}))
    if errors:
        raise ApiError(422, "invalid_body", errors)
    try:
        stored = await analytics.runner.call(AnalyticsOps.put_automation_settings, job, body)
    except UnknownTemplate as exc:
        raise ApiError(422, "invalid_body", [{"path": "template", "message":
                                              f"no coupon template {exc}"}]) from exc
    await analytics.reload()  # here at once; the leader (maybe another process) within a round
    settings = (await analytics.settings())[job]
    return web.json_response({"job": job, **settings, "overridden": sorted(stored)})


async def bundles(request: web.Request) -> web.Response:
    tenant, params = _id_query(request, "tenant"), _reco_params(request)
    return web.json_response(await request.app[keys.ANALYTICS].runner.call(
        AnalyticsOps.bundles, tenant, params))


async def push_pairs(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.ANALYTICS].push_pairs(
        _reco_params(request)))


ANALYTICS_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/segments", segments,
          "Members per RFM segment (every segment listed), optionally of one ?store= (the "
          "store of the member's latest order) or ?tenant=", query=SEGMENTS_QUERY,
          errors=(400,)),
    Route("GET", "/api/v1/members/{member}/rfm", member_rfm,
          "A member's (the survivor's) recency, frequency, monetary, quintile scores and "
          "segment", errors=(404,)),
    Route("POST", "/api/v1/analytics/rfm", compute_rfm,
          "Recompute RFM for every member now (also daily at 00:30 UTC) (hq_admin)"),
    Route("POST", "/api/v1/automation/{trigger}/run", run_trigger,
          "Run an automation trigger now (birthday, winback, viewed_not_bought): once per "
          "member and period, never twice (hq_admin)", errors=(404,)),
    Route("GET", "/api/v1/automation/settings", automation_settings,
          "Every job's schedule and, for a trigger, its coupon template and thresholds, with "
          "the fields the API overrides (the rest come from cloud.toml or the defaults)"),
    Route("PUT", "/api/v1/automation/{job}/settings", put_automation_settings,
          "Override a job's settings (schedule, template, lapsed_days, window_h, "
          "lookback_days); null returns a field to cloud.toml's (hq_admin)",
          body=SETTINGS_BODY, errors=(400, 404, 422)),
    Route("GET", "/api/v1/automation/runs", automation_runs,
          "What the triggers did, newest first: member, period, time, outcome (paged)",
          query=RUNS_QUERY, errors=(400,)),
    Route("GET", "/api/v1/recommendations/bundles", bundles,
          "Often bought together: rules a -> b over the last ?days of orders with support, "
          "confidence and lift, best lift first", query=BUNDLES_QUERY, errors=(400,)),
    Route("POST", "/api/v1/recommendations/push", push_pairs,
          "Send reco.pairs to every store now (also daily at 03:30 UTC) (hq_admin)",
          query=BUNDLES_QUERY, errors=(400,)),
)
