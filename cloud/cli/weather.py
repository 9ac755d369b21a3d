"""``storenode-cloud weather …``: a store's weather per UTC day (an input of the demand
forecast, docs/forecast.md) from and to CSV files, on the database in ``cloud.toml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cloud.cli.kit import DATA_DIR
from cloud.cli.reports import _run
from cloud.reports import weather as rules


def _weather() -> None:
    """Weather per store and UTC day, observed and forecast (docs/forecast.md)."""


weather: click.Group = click.group("weather")(_weather)


@weather.command("import")
@click.option("--store", required=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DATA_DIR
def import_weather(store: str, file: Path, data_dir: Path) -> None:
    """Insert or replace a store's weather days from a CSV file with the header
    day,condition[,precip_tenths_mm][,temp_tenths_c] (UTC days; condition clear, cloudy,
    rain, snow or storm; 0.1 mm and 0.1 °C). Every row is checked first: all are stored, or
    none and the lines at fault are named.

    Example: storenode-cloud weather import --store canteen-01 weather.csv --data-dir /var/lib/storenode-cloud
    """
    def prepare(_: Any) -> list[dict[str, Any]]:
        days = rules.parse_csv(file.read_text(encoding="utf-8"))
        problems = rules.problems(days)
        if problems:
            raise ValueError(f"{file}: " + "; ".join(map(rules.csv_problem, problems)))
        return [rules.normalised(d) for d in days]

    _, _, written = _run(data_dir, prepare, lambda db, days: db.put_weather(store, days))
    click.echo(json.dumps({"store": store, "written": written}))


@weather.command("show")
@click.option("--store", required=True)
@click.option("--from", "start", default=None, help="First day, YYYY-MM-DD.")
@click.option("--to", "end", default=None, help="Day after the last, YYYY-MM-DD.")
@click.option("--format", "chosen", type=click.Choice(("json", "csv")), default="json",
              show_default=True)
@DATA_DIR
def show_weather(store: str, start: str | None, end: str | None, chosen: str,
                 data_dir: Path) -> None:
    """Print a store's weather days (CSV: the file ``weather import`` reads).

    Example: storenode-cloud weather show --store canteen-01 --from 2026-10-01 --format csv --data-dir /var/lib/storenode-cloud
    """
    _, _, days = _run(data_dir, lambda _: rules.check_bounds(start, end),
                      lambda db, _: db.weather(store, start, end))
    if chosen == "csv":
        click.echo(rules.to_csv(days), nl=False)
    else:
        click.echo(json.dumps({"store": store, "days": days}, indent=2))
