"""Prometheus metrics of one edge app (own registry, so tests can run many apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from common.metrics import LATENCY_BUCKETS

CHILDREN_MAX = 1024  # remembered label sets (the registry keeps them all anyway)


class _CountOf(Collector):
    """A counter whose value another object keeps (read at every scrape)."""

    def __init__(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        self.name, self.documentation, self.value = name, documentation, value

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value())


class Metrics:
    def __init__(self, outbox_pending: Callable[[], float],
                 hlc_drift_rejected: Callable[[], float] = lambda: 0) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_CountOf(
            "storenode_hlc_drift_rejected",
            "Remote HLC timestamps refused: further ahead of the local clock than "
            "sync.max_clock_drift_s", hlc_drift_rejected))
        self.orders = Counter(
            "storenode_orders_created", "Orders created", ["channel"], registry=self.registry
        )
        self.transitions = Counter(
            "storenode_order_transitions", "Order status changes", ["to"], registry=self.registry
        )
        self.latency = Histogram(
            "storenode_http_request_duration_seconds", "HTTP request latency",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.errors = Counter(
            "storenode_http_errors", "Error responses", ["code"], registry=self.registry
        )
        pending = Gauge(
            "storenode_outbox_pending", "Outbox events not yet acknowledged by HQ",
            registry=self.registry,
        )
        pending.set_function(outbox_pending)
        self.oldest_pending = Gauge(
            "storenode_sync_oldest_pending_seconds", "Age of the oldest event HQ has not "
            "acknowledged: what a dead box would take with it now (0: none)",
            registry=self.registry)
        self.backup_age = Gauge(
            "storenode_backup_age_seconds", "Age of the last local backup (-1: none yet)",
            registry=self.registry)
        self.backup_age.set(-1)
        self.ws_clients = Gauge(
            "storenode_ws_clients", "Connected event WebSocket clients", registry=self.registry
        )
        # label values -> child metric, for the two updated on every order
        self._latency: dict[tuple[str, str, int], Any] = {}
        self._orders: dict[str, Any] = {}

    def set_rpo(self, oldest_pending_s: float, backup_age_s: float | None) -> None:
        self.oldest_pending.set(oldest_pending_s)
        self.backup_age.set(-1 if backup_age_s is None else backup_age_s)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request: its latency, and the error counter for a 4xx/5xx."""
        key = (method, route, status)
        child = self._latency.get(key)
        if child is None:  # labels() is a lock and a tuple build: once per label set
            if len(self._latency) >= CHILDREN_MAX:
                self._latency.clear()
            child = self._latency[key] = self.latency.labels(method, route, str(status))
        child.observe(seconds)
        if status >= 400:
            self.errors.labels(str(status)).inc()

    def order_created(self, channel: str) -> None:
        child = self._orders.get(channel)
        if child is None:
            child = self._orders[channel] = self.orders.labels(channel)
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
