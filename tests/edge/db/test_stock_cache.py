"""The writer's stock cache (edge/db/stockcache.py) never answers from stale rows.

Each test changes the catalog or the stock pool by a path other than an order create,
between two order creates on the same running writer, and checks the second order sees
the change. Each would sell stock that is not there, or at a wrong price, if the cache
kept what it had.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from common.errors import Conflict, StorageError
from edge.printing import jobs as printjobs
from edge.syncer import sql as syncdb
from edge.catalog import sql as catalog
from edge.orders import writes
from edge.db.group_commit import DbWriter, Tx

TZ = ZoneInfo("Asia/Shanghai")
_n = 0


async def _order(writer: DbWriter, sku: str, qty: int = 1, channel: str = "pos") -> Any:
    global _n
    _n += 1
    order, _ = await writer.submit(writes.create_order,
                                   {"channel": channel, "lines": [{"sku": sku, "qty": qty}]},
                                   f"cache-test-{_n:06d}", "h" * 64, TZ)
    return order


def _on_hand(writer: DbWriter, sku: str) -> int:
    with sqlite3.connect(writer.path) as conn:
        return int(conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()[0])


def _set_stock(tx: Tx, sku: str, on_hand: int) -> None:
    tx.conn.execute("UPDATE stock SET on_hand = ? WHERE sku = ?", (on_hand, sku))


async def test_orders_keep_the_cached_level_in_step_with_the_database(writer: DbWriter) -> None:
    await writer.submit(_set_stock, "C001", 5)
    orders = [await _order(writer, "C001") for _ in range(5)]
    assert [o["number"] for o in orders] == sorted(o["number"] for o in orders)
    assert _on_hand(writer, "C001") == 0
    with pytest.raises(Conflict) as refused:  # the cache says 0 as the database does
        await _order(writer, "C001")
    assert refused.value.code == "out_of_stock"


async def test_another_connection_adding_stock_is_seen(writer: DbWriter) -> None:
    await writer.submit(_set_stock, "C001", 1)
    await _order(writer, "C001")  # cache: 0 left
    with sqlite3.connect(writer.path) as other:  # a technician's CLI, not the writer
        other.execute("UPDATE stock SET on_hand = 3 WHERE sku = 'C001'")
    order = await _order(writer, "C001", qty=3)  # refused if the cache kept its 0
    assert order["lines"][0]["qty"] == 3
    assert _on_hand(writer, "C001") == 0


async def test_another_connection_taking_stock_is_seen(writer: DbWriter) -> None:
    await writer.submit(_set_stock, "C001", 10)
    await _order(writer, "C001")  # cache: 9 left
    with sqlite3.connect(writer.path) as other:
        other.execute("UPDATE stock SET on_hand = 0 WHERE sku = 'C001'")
    with pytest.raises(Conflict):  # sold from the cache's 9 if it had not been dropped
        await _order(writer, "C001")
    assert _on_hand(writer, "C001") == 0


async def test_a_catalog_edit_through_the_writer_is_seen(writer: DbWriter) -> None:
    first = await _order(writer, "C001")
    await writer.submit(catalog.patch_item, "C001", {"price_cents": first["total_cents"] + 100})
    second = await _order(writer, "C001")
    assert second["total_cents"] == first["total_cents"] + 100
    await writer.submit(catalog.patch_item, "C001", {"available": False})
    with pytest.raises(Conflict) as refused:
        await _order(writer, "C001")
    assert refused.value.code == "unavailable"


async def test_a_stock_movement_and_a_cancel_are_seen(writer: DbWriter) -> None:
    await writer.submit(_set_stock, "C001", 1)
    order = await _order(writer, "C001")
    await writer.submit(writes.transition_order, order["id"], "cancelled")  # restores 1
    again = await _order(writer, "C001")
    assert again["lines"][0]["sku"] == "C001"
    await writer.submit(catalog.record_movement, "C001", 2, "receipt", None, None)
    await _order(writer, "C001", qty=2)
    assert _on_hand(writer, "C001") == 0


def _sell_then(failure: Exception) -> Any:
    """An order-create job that sells one C001 (the cache now says one less) and then fails."""
    def job(tx: Tx) -> None:
        writes.create_order(tx, {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}]},
                            f"cache-test-{type(failure).__name__}", "h" * 64, TZ)
        raise failure
    job.keeps_stock_cache = True  # type: ignore[attr-defined]
    return job


@pytest.mark.parametrize(("failure", "answer"), [
    # refused by the rules: this job alone rolls back to its SAVEPOINT
    (Conflict("refused"), Conflict),
    # storage failure: the whole batch rolls back, its callers get a StorageError
    (sqlite3.OperationalError("disk I/O error"), StorageError),
], ids=["job-refused", "batch-failed"])
async def test_a_sale_rolled_back_leaves_no_trace_in_the_cache(
    writer: DbWriter, failure: Exception, answer: type[Exception]
) -> None:
    await writer.submit(_set_stock, "C001", 2)
    await _order(writer, "C001")  # cache: 1 left
    with pytest.raises(answer):
        await writer.submit(_sell_then(failure))
    assert _on_hand(writer, "C001") == 1
    await _order(writer, "C001")  # refused if the cache kept the rolled-back sale
    assert _on_hand(writer, "C001") == 0


async def test_bookkeeping_jobs_between_orders_keep_the_cache(writer: DbWriter) -> None:
    """An online shop with printers commits an ack and print-job updates between orders:
    those write no item, stock or quota row and must not send every order back to the join;
    an unmarked job still clears it."""
    await _order(writer, "C001")
    assert "C001" in writer.cache.items
    await writer.submit(syncdb.record_ack, 0)
    await writer.submit(printjobs.printed, [])
    assert "C001" in writer.cache.items
    await writer.submit(_set_stock, "C001", 5)
    assert writer.cache.items == {}
