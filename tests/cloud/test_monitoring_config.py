"""The Prometheus alert rules (config/prometheus/) and the Grafana dashboard (config/grafana/):
they load, have the shape their tools expect (promtool when it is on PATH, else a structural
check and a JSON schema), and every metric they name is one that HQ's or a box's /metrics
really exposes: renaming a metric fails here until the rules and the dashboard follow."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from edge.app import create_app as create_edge
from edge.config import load_settings as edge_settings
from tests.cloud.api.conftest import login, make_hq, mosquitto
from tests.conftest import login_as
from tests.helpers import ROOT, free_port, make_store

RULES = ROOT / "config" / "prometheus" / "storenode-rules.yml"
SCRAPE = ROOT / "config" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "config" / "grafana" / "storenode.json"
ALERTS = {"StoreOffline", "SyncLagHigh", "OutboxBacklog", "IngestErrors", "ConflictsRising",
          "PrinterFault", "LockerFault", "HQDown"}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
# what Prometheus itself adds to every target
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}
EDGE_DEVICES = """
[printers.kitchen]
type = "file"
path = "prints/kitchen.prn"
stations = ["wok"]
receipts = true

[lockers.main]
type = "fake"
compartments = 2
poll_ms = 100
hold_s = 600
"""


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panel_exprs() -> list[str]:
    """Every PromQL expression of the dashboard: its panels' targets and its variables'."""
    doc = dashboard()
    found = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    for variable in doc["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(re.sub(r"^label_values\((.*), *\w+\)$", r"\1", query["query"]))
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana's $variables allowed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^{}]*\}|\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        after = text[match.end():].lstrip()
        if not after.startswith("(") and match.group() not in KEYWORDS:
            names.add(match.group())
    return names


def balanced(expr: str) -> bool:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    stack: list[str] = []
    for char in text:
        if char in "([{":
            stack.append(")]}"["([{".index(char)])
        elif char in ")]}":
            if not stack or stack.pop() != char:
                return False
    return not stack and text.count('"') % 2 == 0


def exposed(text: str) -> set[str]:
    """The series names a /metrics answer exposes, families without samples included."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum"),
                "summary": ("", "_count", "_sum"), "gauge": ("",)}
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def test_alert_rules_have_the_shape_prometheus_needs() -> None:
    found = rules()
    names = [rule["alert"] for rule in found]
    assert ALERTS <= set(names) and len(names) == len(set(names)), names
    for rule in found:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
        assert DURATION.match(rule["for"]), rule
        assert rule["labels"]["severity"] in SEVERITIES, rule
        assert {"summary", "description"} <= set(rule["annotations"]), rule
        assert all(isinstance(v, str) and v.strip() for v in rule["annotations"].values())
        assert balanced(rule["expr"]) and metric_names(rule["expr"]), rule["expr"]
        for text in rule["annotations"].values():  # Go templates: {{ … }} pairs
            assert text.count("{{") == text.count("}}"), text


DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {
            "type": "array", "items": {"type": "object", "required": ["name", "type"]}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["row", "stat", "timeseries", "table", "gauge", "bargauge"]},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"],
                            "properties": {k: {"type": "integer", "minimum": 0}
                                           for k in ("h", "w", "x", "y")}},
                "datasource": {"type": "object", "required": ["type", "uid"], "properties": {
                    "type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}}},
                "targets": {"type": "array", "items": {
                    "type": "object", "required": ["refId", "expr"],
                    "properties": {"expr": {"type": "string", "minLength": 1}}}},
            },
            "if": {"properties": {"type": {"not": {"const": "row"}}}},
            "then": {"required": ["datasource", "targets"],
                     "properties": {"targets": {"minItems": 1}}},
        }},
    },
}


def test_dashboard_is_a_grafana_dashboard_of_the_figures_operators_watch() -> None:
    doc = dashboard()
    jsonschema.validate(doc, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in doc["templating"]["list"]} >= {"datasource", "store"}
    for panel in doc["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
    exprs = panel_exprs()
    assert all(balanced(e) for e in exprs), [e for e in exprs if not balanced(e)]
    named = set().union(*map(metric_names, exprs))
    for figure in ("storenode_cloud_stores_offline", "storenode_cloud_store_lag_seconds",
                   "storenode_outbox_pending", "storenode_sync_oldest_pending_seconds",
                   "storenode_cloud_ingest_events_applied_total",
                   "storenode_cloud_ingest_db_errors_total", "storenode_cloud_conflicts_open",
                   "storenode_printer_up", "storenode_device_up",
                   "storenode_cloud_http_request_duration_seconds_bucket",
                   "storenode_cloud_ingest_ack_seconds_bucket"):
        assert figure in named, figure


def test_metric_names_are_read_out_of_promql() -> None:
    assert metric_names('sum by (store) (rate(a_total{x=~"b_c"}[5m])) / on (x) group_left (y) '
                        'max(c) > bool 1 and d offset 5m') == {"a_total", "c", "d"}
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(h_bucket[$__rate_interval])))"
                        ) == {"h_bucket"}
    assert metric_names("1e3 * up") == {"up"}
    assert balanced("max(a{b=\"(\"})") and not balanced("max(a") and not balanced("a[5m)")


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed "
                    "(scripts/install-test-deps.sh puts it on PATH)")
def test_promtool_checks_the_rules_the_scrape_config_and_the_dashboard_queries(
        tmp_path: Path) -> None:
    assert PROMTOOL is not None
    for args in (["check", "rules", str(RULES)], ["check", "config", "--syntax-only", str(SCRAPE)]):
        done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    # the dashboard's queries, as recording rules, with Grafana's variables filled in
    filled = [e.replace("$__rate_interval", "5m").replace("$store", ".*") for e in panel_exprs()]
    recorded = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"storenode:dashboard_{n}", "expr": e} for n, e in enumerate(filled)]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(recorded), encoding="utf-8")
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_every_metric_named_exists_at_hq_or_at_a_box(tmp_path: Path,
                                                           aiohttp_client: Any) -> None:
    hq_dir = tmp_path / "hq"
    make_hq(hq_dir, f"sqlite:///{tmp_path / 'hq.db'}", broker=f"mqtt://127.0.0.1:{free_port()}")
    store_dir = make_store(tmp_path / "store")
    with (store_dir / "edge.toml").open("a", encoding="utf-8") as fh:
        fh.write(EDGE_DEVICES)
    with mosquitto(hq_dir):
        hq = await aiohttp_client(create_hq(hq_settings(hq_dir)))
        box = await aiohttp_client(create_edge(edge_settings(store_dir)))
        try:
            admin = await login(hq, "admin")
            await admin.get("/api/v1/stores")
            manager = await login_as(box, "manager")
            await manager.get("/api/v1/orders")
            names: set[str] = set()
            for client, token in ((hq, admin.token), (box, manager.token)):
                resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                assert resp.status == 200
                names |= exposed(await resp.text())
        finally:
            await box.close()
            await hq.close()
    used = {name: where for where, exprs in (("rules", [r["expr"] for r in rules()]),
                                             ("dashboard", panel_exprs()))
            for expr in exprs for name in metric_names(expr)}
    missing = {name: where for name, where in used.items() if name not in names | SYNTHETIC}
    assert not missing, f"metrics named in config/ that nothing exposes: {missing}"
