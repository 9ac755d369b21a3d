"""The SQL of HQ analytics (``cloud/analytics``): RFM into ``member_rfm``, the automation
triggers' candidates and their ``automation_runs`` rows, association rules over order lines.

The same SQL runs on SQLite (3.25+: window functions) and PostgreSQL; the two date
expressions that differ are in ``DATES``. Orders that count: not cancelled, with a member that
survives (merges re-point orders at the survivor). Times are the stored UTC ISO text
(``2026-01-01T12:00:00.000Z``, fixed width, so text order is time order).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final

from cloud.analytics import automation as auto
from cloud.analytics import rfm
from cloud.analytics.reco import RecoParams
from cloud.db.backend import Backend
from cloud.db.keyset import Column, Key, Keyset, page_rows
from cloud.db.schema import UPSERT_SETTING
from cloud.feed.changes import queue
from cloud.members import consent, coupons
from cloud.reservations import sql as reservations
from common.clock import iso

# (backend, expression) -> SQL; {col} is a column, ? a parameter
DATES: Final[dict[str, dict[str, str]]] = {
    "sqlite": {
        "days_since": "CAST(julianday(?) - julianday(substr({col}, 1, 10)) AS INTEGER)",
        "plus_hours": "strftime('%Y-%m-%dT%H:%M:%fZ', {col}, ? || ' hours')",
    },
    "postgresql": {
        "days_since": "(CAST(? AS date) - CAST(substr({col}, 1, 10) AS date))",
        "plus_hours": "to_char((CAST({col} AS timestamptz) + make_interval(hours => "
                      "CAST(? AS integer))) AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
    },
}
COUNTED: Final = ("o.member IS NOT NULL AND o.status <> 'cancelled' AND m.merged_into IS NULL")
RUN_FIELDS: Final = ("trigger_name", "member", "period", "at", "outcome", "detail")
_CHUNK: Final = 500  # members per automation transaction
RFM_WORK_MEM: Final = "256MB"  # PostgreSQL, for the RFM transaction only
RFM_AT: Final = "analytics.rfm_computed_at"  # hq_settings key: the last RFM computation

def _date(db: Backend, name: str, col: str) -> str:
    return DATES[db.name][name].replace("{col}", col)


def _where(**equal: str | None) -> tuple[str, list[str]]:
    """`` WHERE a = ? AND …`` for the columns given a value (column names are ours)."""
    given = {k: v for k, v in equal.items() if v is not None}
    clause = " AND ".join(f"{column} = ?" for column in given)
    return (f" WHERE {clause}" if clause else ""), list(given.values())


# -- RFM -------------------------------------------------------------------------------
def compute_rfm(db: Backend, now: datetime) -> int:
    """Replace ``member_rfm`` with every surviving member's scores as of ``now``; how many."""
    at, since = iso(now), iso(now - timedelta(days=rfm.WINDOW_DAYS))
    sql = f"""
    INSERT INTO member_rfm(member, tenant, store, recency_days, frequency, monetary, r, f, m,
                           segment, last_order_at, computed_at)
    WITH base AS (
        SELECT o.member AS member, m.tenant AS tenant, max(o.created_at) AS last_at,
               max(o.created_at || o.store) AS last_key,
               sum(CASE WHEN o.created_at >= ? THEN 1 ELSE 0 END) AS frequency,
               sum(CASE WHEN o.created_at >= ? THEN o.total_cents ELSE 0 END) AS monetary
        FROM orders o JOIN members m ON m.id = o.member
        WHERE {COUNTED} AND o.created_at <= ?
        GROUP BY o.member, m.tenant
    ), aged AS (
        SELECT base.*, {_date(db, "days_since", "last_at")} AS recency_days FROM base
    ), scored AS (
        SELECT aged.*,
            NTILE({rfm.QUINTILES}) OVER (PARTITION BY tenant
                                         ORDER BY recency_days DESC, member DESC) AS r,
            CASE WHEN frequency = 0 THEN 1 ELSE NTILE({rfm.QUINTILES}) OVER (
                PARTITION BY tenant ORDER BY frequency, member) END AS f,
            CASE WHEN monetary <= 0 THEN 1 ELSE NTILE({rfm.QUINTILES}) OVER (
                PARTITION BY tenant ORDER BY monetary, member) END AS m
        FROM aged
    )
    SELECT member, tenant, substr(last_key, 25), recency_days, frequency, monetary, r, f, m,
           {rfm.case_sql()}, last_at, ?
    FROM scored ORDER BY member"""
    with db.write():
        if db.name == "postgresql":  # three window sorts of every member: in memory
            db.execute(f"SET LOCAL work_mem = '{RFM_WORK_MEM}'")
            db.execute("TRUNCATE member_rfm")  # no dead rows left behind, unlike DELETE
        else:
            db.execute("DELETE FROM member_rfm")
        count = int(db.execute(sql, (since, since, at, at[:10], at)).rowcount)
        db.execute(UPSERT_SETTING, (RFM_AT, at))
    return count


def segment_counts(db: Backend, store: str | None, tenant: str | None) -> dict[str, Any]:
    clause, params = _where(store=store, tenant=tenant)
    with db.read():
        rows = db.execute(f"SELECT segment, count(*) FROM member_rfm{clause} GROUP BY segment",
                          params).fetchall()
        found = db.execute("SELECT value FROM hq_settings WHERE key = ?", (RFM_AT,)).fetchone()
        scenes = reservations.scene_counts(db, store, tenant)
    computed = found[0] if found else None
    counts = {name: 0 for name in rfm.SEGMENT_NAMES} | {s: int(n) for s, n in rows}
    return {"computed_at": computed, "store": store, "tenant": tenant,
            "members": sum(counts.values()), "segments": counts, "dining_scenes": scenes}


def member_rfm(db: Backend, member: str) -> dict[str, Any] | None:
    rows = db.rows("SELECT member, tenant, store, recency_days, frequency, monetary, r, f, m, "
                   "segment, last_order_at, computed_at FROM member_rfm WHERE member = ?",
                   (member,))
    return rows[0] if rows else None


# -- automation ------------------------------------------------------------------------
# Candidate = (member, tenant, period, detail)
Candidate = tuple[str, str, str, dict[str, Any]]


def candidates(db: Backend, trigger: str, now: datetime,
               settings: dict[str, Any] | None = None) -> list[Candidate]:
    """Members the trigger is due for as of ``now`` that have no run of that period yet;
    ``settings``: the trigger's thresholds (``automation.effective``; default: built-in)."""
    at, given = iso(now), settings or auto.defaults(trigger)
    if trigger == "birthday":
        period = at[:7]
        rows = db.execute(
            "SELECT m.id, m.tenant FROM members m WHERE m.merged_into IS NULL "
            "AND substr(m.birthday, 1, 2) = ? AND NOT EXISTS (SELECT 1 FROM automation_runs a "
            "WHERE a.trigger_name = ? AND a.member = m.id AND a.period = ?) ORDER BY m.id",
            (at[5:7], trigger, period)).fetchall()
        return [(r[0], r[1], period, {"birthday_month": at[5:7]}) for r in rows]
    if trigger == "winback":
        days = int(given["lapsed_days"])
        cutoff = iso(now - timedelta(days=days))
        rows = db.execute(
            f"SELECT o.member, m.tenant, max(o.created_at) FROM orders o "
            f"JOIN members m ON m.id = o.member WHERE {COUNTED} GROUP BY o.member, m.tenant "
            f"HAVING max(o.created_at) < ? ORDER BY o.member", (cutoff,)).fetchall()
        found = [(r[0], r[1], f"since-{r[2][:10]}", {"last_order_at": r[2], "lapsed_days": days})
                 for r in rows]
        return _not_run(db, trigger, found)
    if trigger == "viewed_not_bought":
        return _viewed_not_bought(db, now, int(given["window_h"]), int(given["lookback_days"]))
    raise ValueError(f"unknown trigger {trigger!r}")


def _viewed_not_bought(db: Backend, now: datetime, window: int,
                       lookback_days: int) -> list[Candidate]:
    """``member_views.at`` is when HQ applied the view, not when it happened (a store that
    was offline sends it later, maybe after the order it led to): an order within the window
    on either side of it counts as bought. So a late view never sends a wrong nudge."""
    plus = _date(db, "plus_hours", "v.at")
    rows = db.execute(
        f"SELECT v.member, v.tenant, v.at, v.skus FROM member_views v "
        f"JOIN members m ON m.id = v.member AND m.merged_into IS NULL "
        f"WHERE v.at >= ? AND v.at <= ? AND NOT EXISTS (SELECT 1 FROM orders o "
        f"WHERE o.member = v.member AND o.status <> 'cancelled' AND o.created_at >= {plus} "
        f"AND o.created_at < {plus}) ORDER BY v.member, v.at",
        (iso(now - timedelta(days=lookback_days)),
         iso(now - timedelta(hours=window)), f"{-window:+d}", f"{window:+d}")).fetchall()
    by_day: dict[tuple[str, str], Candidate] = {}
    for member, tenant, at, skus in rows:
        found = by_day.setdefault((member, at[:10]), (member, tenant, at[:10], {
            "first_view_at": at, "skus": [], "window_h": window}))
        found[3]["skus"] = sorted(set(found[3]["skus"]) | set(json.loads(skus)))[:100]
    return _not_run(db, "viewed_not_bought", list(by_day.values()))


def _not_run(db: Backend, trigger: str, found: list[Candidate]) -> list[Candidate]:
    done = {(r[0], r[1]) for r in db.execute(
        "SELECT member, period FROM automation_runs WHERE trigger_name = ?", (trigger,))}
    return [c for c in found if (c[0], c[2]) not in done]


def record_runs(db: Backend, trigger: str, template: str, found: list[Candidate],
                now: datetime) -> list[dict[str, Any]]:
    """One run row per candidate not recorded yet (the UNIQUE key decides, also between
    workers), and the action: a coupon of ``template`` to the member's tenant's stores when
    the template exists ("" or an unknown one: the rows record the intended action). Each
    chunk is one transaction: rows and coupons commit together (the coupons' changes queued
    for ``fanout.drain``)."""
    made: list[dict[str, Any]] = []
    for start in range(0, len(found), _CHUNK):
        with db.write():
            runs = _insert_runs(db, trigger, found[start:start + _CHUNK], iso(now))
            _issue(db, template, runs, iso(now))
        made += runs
    return made


def _insert_runs(db: Backend, trigger: str, chunk: list[Candidate],
                 at: str) -> list[dict[str, Any]]:
    runs = []
    allowed = consent.granted(db, sorted({c[0] for c in chunk}), "marketing")
    for member, tenant, period, detail in chunk:
        if member not in allowed:
            continue  # no marketing consent (or withdrawn): no run, no coupon
        inserted = db.execute(
            "INSERT INTO automation_runs(trigger_name, member, period, at, outcome, detail) "
            "VALUES (?, ?, ?, ?, 'recorded', ?) ON CONFLICT DO NOTHING",
            (trigger, member, period, at, json.dumps(detail, sort_keys=True))).rowcount
        if inserted:
            runs.append({"trigger": trigger, "member": member, "tenant": tenant,
                         "period": period, "at": at, "outcome": "recorded", "detail": detail})
    return runs


def _issue(db: Backend, template_id: str, runs: list[dict[str, Any]], at: str) -> None:
    if not template_id:
        return  # configured to record only
    try:
        template = coupons.get_template(db, template_id)
    except coupons.UnknownTemplate:
        return  # nothing configured: the rows record the intended action
    for tenant in sorted({r["tenant"] for r in runs}):
        mine = [r for r in runs if r["tenant"] == tenant]
        scope = [r[0] for r in db.execute("SELECT store FROM stores WHERE tenant = ? "
                                          "ORDER BY store", (tenant,)).fetchall()]
        if template.get("stores") is not None:
            scope = [s for s in scope if s in template["stores"]]
        made = coupons.issue(db, template_id, [r["member"] for r in mine], 0, scope, at)
        for run, coupon in zip(mine, made, strict=True):
            run["outcome"] = "issued"
            run["detail"] = {**run["detail"], "code": coupon["code"], "template_id": template_id}
            db.execute("UPDATE automation_runs SET outcome = 'issued', detail = ? WHERE "
                       "trigger_name = ? AND member = ? AND period = ?",
                       (json.dumps(run["detail"], sort_keys=True), run["trigger"],
                        run["member"], run["period"]))


# -- settings and the scheduler's claims (hq_settings) -------------------------------------
SETTINGS_KEY: Final = "automation."  # + job: the API's overrides of its settings (JSON)
FIRED_KEY: Final = "scheduler.fired."  # + job: the latest scheduled time claimed


def overrides(db: Backend) -> dict[str, dict[str, Any]]:
    rows = db.execute("SELECT key, value FROM hq_settings WHERE key LIKE ?",
                      (SETTINGS_KEY + "%",)).fetchall()
    return {key[len(SETTINGS_KEY):]: json.loads(value) for key, value in rows}


def put_overrides(db: Backend, job: str, values: dict[str, Any]) -> dict[str, Any]:
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?",
                     (SETTINGS_KEY + job,)).fetchone()
    merged = {**(json.loads(row[0]) if row else {}), **values}
    merged = {k: v for k, v in merged.items() if v is not None}
    db.execute(UPSERT_SETTING, (SETTINGS_KEY + job, json.dumps(merged, sort_keys=True)))
    return merged


def claim_fire(db: Backend, job: str, fire_at: str) -> bool:
    return bool(db.execute(f"{UPSERT_SETTING} WHERE hq_settings.value < excluded.value",
                           (FIRED_KEY + job, fire_at)).rowcount)


RUNS: Final = Keyset("automation_runs", (Column("id", int, descending=True),))


def runs(db: Backend, trigger: str | None, member: str | None, limit: int,
         after: Key | None = None) -> list[dict[str, Any]]:
    """What the triggers did, newest first, after ``after`` in ``RUNS`` order."""
    rows = page_rows(db, RUNS, "id, trigger_name AS trigger, member, period, at, outcome, "
                     "detail FROM automation_runs", after, limit, trigger_name=trigger,
                     member=member)
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows


# -- association rules -----------------------------------------------------------------
def bundles(db: Backend, tenant: str | None, params: RecoParams,
            now: datetime) -> list[dict[str, Any]]:
    """Rules a → b (best lift first) with support and confidence at least the minimums."""
    scope = " AND s.tenant = ?" if tenant is not None else ""
    sql = f"""
    WITH baskets AS (
        SELECT DISTINCT l.store, l.order_id, l.sku FROM order_lines l
        JOIN orders o ON o.store = l.store AND o.id = l.order_id
        JOIN stores s ON s.store = o.store
        WHERE o.created_at >= ? AND o.status <> 'cancelled'{scope}
    ), total AS (
        SELECT count(*) AS n FROM (SELECT DISTINCT store, order_id FROM baskets) t
    ), items AS (
        SELECT sku, count(*) AS n FROM baskets GROUP BY sku
    ), pairs AS (
        SELECT x.sku AS a, y.sku AS b, count(*) AS n FROM baskets x JOIN baskets y
        ON y.store = x.store AND y.order_id = x.order_id AND y.sku <> x.sku
        GROUP BY x.sku, y.sku
    )
    SELECT p.a, p.b, p.n AS together, ia.n AS with_a, ib.n AS with_b, total.n AS baskets,
           1.0 * p.n / total.n AS support, 1.0 * p.n / ia.n AS confidence,
           1.0 * p.n * total.n / (1.0 * ia.n * ib.n) AS lift
    FROM pairs p JOIN items ia ON ia.sku = p.a JOIN items ib ON ib.sku = p.b CROSS JOIN total
    WHERE p.n >= ? * total.n AND p.n >= ? * ia.n
    ORDER BY lift DESC, support DESC, p.a, p.b LIMIT ?"""
    args: list[Any] = [iso(now - timedelta(days=params.days))]
    if tenant is not None:
        args.append(tenant)
    args += [params.min_support, params.min_confidence, params.limit]
    with db.read():
        rows = db.rows(sql, args)
    for row in rows:
        for key in ("support", "confidence", "lift"):
            row[key] = round(float(row[key]), 6)
        for key in ("together", "with_a", "with_b", "baskets"):
            row[key] = int(row[key])
    return rows


def push_pairs(db: Backend, params: RecoParams, now: datetime) -> None:
    """Queue ``reco.pairs`` (the tenant's pairs) for every store of each tenant, appended by
    ``fanout.drain`` after the commit in chunks of stores.

    A delta change (no key): a snapshot lists it again when it is after the edge's cursor,
    and each one replaces the edge's whole table."""
    tenants = [r[0] for r in db.execute("SELECT DISTINCT tenant FROM stores ORDER BY tenant")]
    for tenant in tenants:
        pairs = [{k: r[k] for k in ("a", "b", "support", "confidence", "lift")}
                 for r in bundles(db, tenant, params, now)]
        with db.write():
            queue(db, tenant, "reco.pairs", {"pairs": pairs})
