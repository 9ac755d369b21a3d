"""``storenode-cloud settlement …`` and ``storenode-cloud report …``: the partner settlement,
the channel report, cross-store flows and forecasts from the command line, on the database
in ``cloud.toml``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from cloud.cli.kit import DATA_DIR, EXPECTED, fail_with
from cloud.config import Settings, load_settings
from cloud.database import CloudDb
from cloud.reports import channels, forecast
from cloud.reports import settlement as rules_module

P = TypeVar("P")
R = TypeVar("R")
MONTH_RANGE = (click.option("--from", "first", required=True, help="First month, YYYY-MM."),
               click.option("--to", "last", required=True,
                            help="Last month, YYYY-MM (inclusive)."))
DAY_RANGE = (click.option("--from", "start", required=True, help="First day, YYYY-MM-DD."),
             click.option("--to", "end", required=True, help="Day after the last, YYYY-MM-DD."))


def options(*chosen: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(fn: Any) -> Any:
        for option in reversed(chosen):
            fn = option(fn)
        return fn
    return apply


def _run(data_dir: Path, prepare: Callable[[Settings], P],
         call: Callable[[CloudDb, P], R]) -> tuple[Settings, P, R]:
    """``prepare(settings)`` (checks the arguments), then ``call(db, prepared)`` on the
    database of ``cloud.toml``; an operator's mistake is one ``error:`` line, exit 1."""
    try:
        settings = load_settings(data_dir)
        prepared = prepare(settings)
        db = CloudDb.open(settings.database)
        try:
            return settings, prepared, call(db, prepared)
        finally:
            db.close()
    except EXPECTED as exc:
        fail_with(exc)


def _period(start: str, end: str) -> tuple[str, str]:
    from cloud.reports.routes import period

    return period(start, end)


def _settlement() -> None:
    """Partner settlement between two outlets (docs/settlement.md)."""


settlement: click.Group = click.group("settlement")(_settlement)


@settlement.command("statement")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--a", "store_a", default=None, help="Partner A (default settlement.partner_a).")
@click.option("--b", "store_b", default=None, help="Partner B (default settlement.partner_b).")
@click.option("--format", "chosen", type=click.Choice(("json", "csv", "html")), default="json",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@DATA_DIR
def statement(month: str, store_a: str | None, store_b: str | None, chosen: str,
              out: Path | None, data_dir: Path) -> None:
    """Print (or write) one month's statement as JSON, CSV or a printable HTML page.

    Example: storenode-cloud settlement statement --month 2026-10 --a canteen --b shop --format html --out oct.html --data-dir /var/lib/storenode-cloud
    """
    def prepare(settings: Settings) -> tuple[str, str, str, str, list[str]]:
        rules = settings.settlement
        a, b = store_a or rules.partner_a, store_b or rules.partner_b
        if not a or not b or a == b:
            raise ValueError("name two different stores (--a, --b or settlement.partner_a/_b)")
        first, after, _ = rules_module.month_bounds(month)
        return a, b, first, after, sorted(rules.shared_items)

    settings, (a, b, *_), figures = _run(data_dir, prepare,
                                         lambda db, p: db.settlement_figures(*p))
    doc = rules_module.statement(settings.settlement, month, a, b, figures)
    text = {"json": lambda: json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
            "csv": lambda: rules_module.to_csv(doc),
            "html": lambda: rules_module.to_html(doc)}[chosen]()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(json.dumps({"written": str(out), "format": chosen}))


def _report() -> None:
    """HQ reports (docs/channels.md, docs/forecast.md)."""


report: click.Group = click.group("report")(_report)


@report.command("channels")
@options(*DAY_RANGE)
@click.option("--store", default=None, help="One store (default: all).")
@click.option("--format", "chosen", type=click.Choice(("json", "csv")), default="json",
              show_default=True)
@DATA_DIR
def channels_report(start: str, end: str, store: str | None, chosen: str,
                    data_dir: Path) -> None:
    """Channel value per store and channel: revenue, gross margin, orders, average ticket,
    new/returning members, 30/90-day retention, platform commission.

    Example: storenode-cloud report channels --from 2026-10-01 --to 2026-11-01 --format csv --data-dir /var/lib/storenode-cloud
    """
    settings, (first, after), (groups, costs) = _run(
        data_dir, lambda _: _period(start, end),
        lambda db, p: db.channel_figures(*p, store, time.time()))
    rows = channels.report(groups, costs, settings.platforms.commission_bp())
    click.echo(channels.to_csv(rows) if chosen == "csv" else
               json.dumps({"from": first, "to": after, "rows": rows}, indent=2), nl=False)


@report.command("refresh-channels")
@click.option("--from", "first", default=None, help="First month, YYYY-MM (default: last month).")
@click.option("--to", "last", default=None, help="Last month, YYYY-MM (default: this month).")
@DATA_DIR
def refresh_channels(first: str | None, last: str | None, data_dir: Path) -> None:
    """Recompute the stored monthly channel report of these months (by default the last and
    the current month: what systemd/storenode-cloud-channels.timer runs nightly); prints the
    rows stored.

    Example: storenode-cloud report refresh-channels --from 2026-10 --to 2026-11 --data-dir /var/lib/storenode-cloud
    """
    previous, current = channels.recent_months(datetime.now(UTC))
    first, last = first or previous, last or current
    _, _, count = _run(data_dir, lambda s: (channels.month_range(first, last),
                                            s.platforms.commission_bp()),
                       lambda db, p: db.refresh_channel_months(p[0][0], p[0][1], time.time(),
                                                               p[1]))
    click.echo(json.dumps({"from": first, "to": last, "rows": count}))


@report.command("channel-months")
@options(*MONTH_RANGE)
@click.option("--store", default=None, help="One store (default: all).")
@click.option("--format", "chosen", type=click.Choice(("json", "csv")), default="json",
              show_default=True)
@DATA_DIR
def channel_months(first: str, last: str, store: str | None, chosen: str,
                   data_dir: Path) -> None:
    """Print the stored monthly channel report (as last refreshed).

    Example: storenode-cloud report channel-months --from 2026-01 --to 2026-12 --format csv --data-dir /var/lib/storenode-cloud
    """
    _, _, rows = _run(data_dir, lambda _: channels.month_range(first, last),
                      lambda db, _: db.channel_months(first, last, store))
    click.echo(channels.to_csv(rows) if chosen == "csv" else
               json.dumps({"from": first, "to": last, "rows": rows}, indent=2), nl=False)


@report.command("flows")
@options(*DAY_RANGE)
@DATA_DIR
def flows_report(start: str, end: str, data_dir: Path) -> None:
    """Members whose next order the same day was at another store, by UTC hour.

    Example: storenode-cloud report flows --from 2026-10-01 --to 2026-11-01 --data-dir /var/lib/storenode-cloud
    """
    _, (first, after), rows = _run(data_dir, lambda _: _period(start, end),
                                   lambda db, p: db.cross_store_flows(*p))
    click.echo(json.dumps({"from": first, "to": after, "flows": rows}, indent=2))


@report.command("forecast")
@click.option("--store", required=True)
@click.option("--sku", default=None, help="One SKU (default: every SKU sold or in stock).")
@DATA_DIR
def forecast_report(store: str, sku: str | None, data_dir: Path) -> None:
    """The next 3 days' demand per SKU with its back-tested MAPE against the naive seasonal
    baseline (and without the store's weather, when it has some), and what to order now
    ([forecast] in cloud.toml).

    Example: storenode-cloud report forecast --store canteen-01 --data-dir /var/lib/storenode-cloud
    """
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    settings, _, inputs = _run(
        data_dir, lambda s: (forecast.history_window(end, s.forecast.weeks),
                             forecast.weather_window(end, s.forecast.weeks)),
        lambda db, p: db.forecast_inputs(store, p[0], p[1], sku))
    click.echo(json.dumps(forecast.report(store, end, settings.forecast, inputs, sku),
                          indent=2))


@report.command("footfall")
@options(*DAY_RANGE)
@click.option("--store", default=None, help="One store (default: all).")
@DATA_DIR
def footfall_report(start: str, end: str, store: str | None, data_dir: Path) -> None:
    """Pickup-to-store conversion per store and day, from the stores' BLE probes.

    Example: storenode-cloud report footfall --from 2026-10-01 --to 2026-11-01 --data-dir /var/lib/storenode-cloud
    """
    _, _, rows = _run(data_dir, lambda _: _period(start, end),
                      lambda db, _: db.probe_conversions(start, end, store))
    click.echo(json.dumps({"from": start, "to": end, "days": rows}, indent=2))
