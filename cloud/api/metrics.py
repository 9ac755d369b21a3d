"""Prometheus metrics of one HQ app (own registry, so tests can run many apps).

The ingest and feed counters live in ``Ingest.counters`` / ``FeedPublisher.counters``; a
collector reads them at scrape time as ``storenode_cloud_<source>_<name>_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common.metrics import LATENCY_BUCKETS

# counters of Ingest that count invalid input, exported as the protocol's
# storenode_sync_invalid_total{kind} too (docs/sync-protocol.md)
INVALID = {"rejected": "up", "invalid_topic": "topic"}


class _CounterDicts(Collector):
    def __init__(self, source: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        found = self.source()
        for prefix, values in sorted(found.items()):
            for name, value in sorted(values.items()):
                yield CounterMetricFamily(f"storenode_cloud_{prefix}_{name}",
                                          f"{prefix} counter {name}", value=value)
        invalid = CounterMetricFamily("storenode_sync_invalid", "Invalid sync messages dropped",
                                      labels=["kind"])
        for name, kind in INVALID.items():
            invalid.add_metric([kind], found.get("ingest", {}).get(name, 0))
        yield invalid


class _PerStore(Collector):
    """``storenode_cloud_store_online{store}`` and ``storenode_cloud_store_lag_seconds{store}``
    (the age of the newest event applied: grows while a store is quiet or cut off) of the
    stores read at the last scrape: a store no longer listed leaves no stale series."""

    def __init__(self) -> None:
        self.stores: list[dict[str, Any]] = []

    def collect(self) -> Iterator[Metric]:
        online = GaugeMetricFamily("storenode_cloud_store_online",
                                   "1 while the store's last state is a birth", labels=["store"])
        lag = GaugeMetricFamily("storenode_cloud_store_lag_seconds",
                                "Age of the newest event HQ applied of the store",
                                labels=["store"])
        for store in self.stores:
            online.add_metric([store["store"]], 1.0 if store["online"] else 0.0)
            if store["lag_s"] is not None:
                lag.add_metric([store["store"]], float(store["lag_s"]))
        yield online
        yield lag


class _Histograms(Collector):
    """Histograms kept by parts that come and go with the app (the broker link's ingest)."""

    def __init__(self, source: Callable[[], list[Collector]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        for histogram in self.source():
            yield from histogram.collect()


class Metrics:
    def __init__(self, counters: Callable[[], dict[str, dict[str, int]]],
                 histograms: Callable[[], list[Collector]] = list) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "storenode_cloud_http_request_duration_seconds", "HTTP request latency",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.errors = Counter(
            "storenode_cloud_http_errors", "Error responses", ["code"], registry=self.registry
        )
        self.stores_online = Gauge(
            "storenode_cloud_stores_online", "Stores whose last state is a birth",
            registry=self.registry,
        )
        self.stores = Gauge("storenode_cloud_stores", "Provisioned stores", registry=self.registry)
        self.stores_offline = Gauge(
            "storenode_cloud_stores_offline", "Stores whose last state is a death, or none yet",
            registry=self.registry)
        self.conflicts_open = Gauge(
            "storenode_cloud_conflicts_open", "Conflicts not resolved yet (GET /api/v1/conflicts)",
            registry=self.registry)
        self.per_store = _PerStore()
        self.registry.register(self.per_store)
        self.broker_connected = Gauge(
            "storenode_cloud_broker_connected", "1 while connected to the broker",
            registry=self.registry,
        )
        self.registry.register(_CounterDicts(counters))
        self.registry.register(_Histograms(histograms))

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)
        if status >= 400:
            self.errors.labels(str(status)).inc()

    def set_stores(self, stores: list[dict[str, Any]]) -> None:
        """What ``GET /api/v1/stores`` lists: the counts and the per-store series."""
        online = sum(1 for s in stores if s["online"])
        self.stores.set(len(stores))
        self.stores_online.set(online)
        self.stores_offline.set(len(stores) - online)
        self.per_store.stores = stores

    def render(self) -> bytes:
        return generate_latest(self.registry)
