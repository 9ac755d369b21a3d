"""``storenode-cloud analytics …`` on an HQ data dir (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cloud.cli import cli
from cloud.config import load_settings
from cloud.database import CloudDb
from tests.cloud.api.conftest import db_url, hq_dir  # noqa: F401

from .conftest import Orders, add_member, recent


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_rfm_run_bundles_and_push(hq_dir: Path) -> None:  # noqa: F811
    db = CloudDb.open(load_settings(hq_dir).database)
    try:
        add_member(db, "M1", birthday=recent()[5:7] + "-02")
        orders = Orders(db)
        orders.add("M1", recent(1), 1200, skus=("C001", "C002"))
        orders.add("M1", recent(3), 1200, skus=("C001", "C002"))
    finally:
        db.close()
    d = str(hq_dir)
    code, out = run("analytics", "rfm", "--data-dir", d)
    assert code == 0, out
    assert json.loads(out)["members"] == 1
    code, out = run("analytics", "run", "birthday", "--data-dir", d)
    assert code == 0 and [r["member"] for r in json.loads(out)["runs"]] == ["M1"]
    code, out = run("analytics", "run", "birthday", "--data-dir", d)
    assert code == 0 and json.loads(out)["runs"] == []
    code, out = run("analytics", "bundles", "--days", "30", "--data-dir", d)
    assert code == 0 and len(json.loads(out)) == 2
    code, out = run("analytics", "push-pairs", "--data-dir", d)
    assert code == 0 and set(json.loads(out)["stores"]) == {"s1", "s2"}
    code, out = run("analytics", "run", "nope", "--data-dir", d)
    assert code == 2 and "nope" in out
    code, out = run("analytics", "bundles", "--min-support", "2", "--data-dir", d)
    assert code == 2
