"""``storenode-cloud settlement …``: the partner settlement from the command line, on the
database in ``cloud.toml``."""

from __future__ import annotations

from pathlib import Path

import click

from cloud.cli import DATA_DIR, EXPECTED, _error
from cloud.config import load_settings
from cloud.db import CloudDb

from . import settlement as rules_module


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
    import json

    try:
        settings = load_settings(data_dir)
        rules = settings.settlement
        a, b = store_a or rules.partner_a, store_b or rules.partner_b
        if not a or not b or a == b:
            raise ValueError("name two different stores (--a, --b or settlement.partner_a/_b)")
        first, after, _ = rules_module.month_bounds(month)
        db = CloudDb.open(settings.database)
        try:
            figures = db.settlement_figures(a, b, first, after, sorted(rules.shared_items))
        finally:
            db.close()
    except EXPECTED as exc:
        _error(exc)
    doc = rules_module.statement(rules, month, a, b, figures)
    text = {"json": lambda: json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
            "csv": lambda: rules_module.to_csv(doc),
            "html": lambda: rules_module.to_html(doc)}[chosen]()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(json.dumps({"written": str(out), "format": chosen}))


def _report() -> None:
    """HQ reports (docs/channels.md)."""


report: click.Group = click.group("report")(_report)


@report.command("channels")
@click.option("--from", "start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Day after the last, YYYY-MM-DD.")
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
    import json
    import time

    from cloud.api.intel import period

    from . import channels

    try:
        settings = load_settings(data_dir)
        first, after = period(start, end)
        db = CloudDb.open(settings.database)
        try:
            groups, costs = db.channel_figures(first, after, store, time.time())
        finally:
            db.close()
    except EXPECTED as exc:
        _error(exc)
    rows = channels.report(groups, costs, settings.platforms.commission_bp())
    click.echo(channels.to_csv(rows) if chosen == "csv" else
               json.dumps({"from": first, "to": after, "rows": rows}, indent=2), nl=False)
