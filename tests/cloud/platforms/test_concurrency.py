"""The same platform order sent twice at the same moment (two HQ processes, each its own
database connection; new request ids): forwarded once, the other answered as a duplicate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.platforms.sql import Refused

from . import signed


@pytest.fixture
def two(db_url: str) -> Iterator[tuple[CloudDb, CloudDb]]:
    first = CloudDb.open(db_url)
    first.add_store("s1", "acme")
    first.put_catalog_item({"sku": "C001", "name": "C", "category": "m", "station": "k",
                            "price_cents": 100})
    second = CloudDb.open(db_url)
    yield first, second
    second.close()
    first.close()


def test_one_order_forwarded_once_under_concurrency(two: tuple[CloudDb, CloudDb]) -> None:
    for round_no in range(10):
        order = signed.order(f"P-race-{round_no}")
        barrier = threading.Barrier(2)
        results: list[Any] = []

        def send(db: CloudDb, request_id: str) -> None:
            barrier.wait()
            try:
                results.append(db.accept_platform_order("meituan", "meituan", request_id,
                                                        "mt-1001", "s1", order)["outcome"])
            except Refused as exc:  # pragma: no cover - a failure of the test
                results.append(exc.reason)
            except Exception as exc:  # a unique violation would land here
                results.append(type(exc).__name__)

        threads = [threading.Thread(target=send, args=(db, f"r{round_no}-{n}"))
                   for n, db in enumerate(two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(results) == ["duplicate", "forwarded"], results
    changes = two[0].changes_since("s1", 0).changes
    assert sum(c["type"] == "platform.order" for c in changes) == 10
