"""``storenode-cloud analytics …``: the analytics jobs from the command line (a timer, or an
operator), on the database in ``cloud.toml``. Changes they append reach online stores at
their next birth (or at once when the HQ service runs them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cloud.analytics.automation import TRIGGERS
from cloud.analytics.reco import RecoParams
from cloud.cli.kit import DATA_DIR, EXPECTED, fail_with, out
from cloud.config import Settings, load_settings
from cloud.database import CloudDb


def _with_db(data_dir: Path, job: Callable[[CloudDb, Settings], Any]) -> None:
    """``job(db, settings)`` on the database of ``cloud.toml``."""
    try:
        settings = load_settings(data_dir)
        db = CloudDb.open(settings.database)
        try:
            result = job(db, settings)
        finally:
            db.close()
    except EXPECTED as exc:
        fail_with(exc)
    out(result)


RECO_OPTIONS = (
    click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True,
                 help="Orders of the last DAYS days."),
    click.option("--min-support", type=click.FloatRange(0, 1), default=0.01, show_default=True),
    click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.1,
                 show_default=True),
)


def reco_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(RECO_OPTIONS):
        fn = option(fn)
    return fn


def _analytics() -> None:
    """HQ analytics: RFM segments, automation triggers, often bought together."""


analytics: click.Group = click.group("analytics")(_analytics)  # typed: cloud.cli imports it


@analytics.command("rfm")
@DATA_DIR
def rfm(data_dir: Path) -> None:
    """Recompute every member's RFM scores and segment; prints the count per segment.

    Example: storenode-cloud analytics rfm --data-dir /var/lib/storenode-cloud
    """
    _with_db(data_dir, lambda db, _: {**db.compute_rfm(), **db.segment_counts()})


@analytics.command("run")
@click.argument("trigger", type=click.Choice(sorted(TRIGGERS)))
@DATA_DIR
def run(trigger: str, data_dir: Path) -> None:
    """Run one automation trigger now; a member is acted on once per period. Its template
    and thresholds: the HQ API's settings over cloud.toml's [automation].

    Example: storenode-cloud analytics run birthday --data-dir /var/lib/storenode-cloud
    """
    _with_db(data_dir, lambda db, settings: db.run_automation(trigger, None, settings.jobs))


@analytics.command("bundles")
@click.option("--tenant", default=None, help="One tenant's orders (default: all).")
@reco_options
@DATA_DIR
def bundles(tenant: str | None, days: int, min_support: float, min_confidence: float,
            data_dir: Path) -> None:
    """Print the rules a -> b (support, confidence, lift), best lift first.

    Example: storenode-cloud analytics bundles --days 30 --data-dir /var/lib/storenode-cloud
    """
    params = RecoParams(days, min_support, min_confidence)
    _with_db(data_dir, lambda db, _: db.bundles(tenant, params))


@analytics.command("push-pairs")
@reco_options
@DATA_DIR
def push_pairs(days: int, min_support: float, min_confidence: float, data_dir: Path) -> None:
    """Append reco.pairs (each tenant's rules) to every store's feed.

    Example: storenode-cloud analytics push-pairs --data-dir /var/lib/storenode-cloud
    """
    params = RecoParams(days, min_support, min_confidence)
    _with_db(data_dir, lambda db, _: {"stores": db.push_reco_pairs(params)})
