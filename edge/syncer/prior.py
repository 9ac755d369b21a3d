"""The events of the box a backup came from (``storenode restore --from-backup``): the box
runs under a new epoch, and the backup's events HQ may not have yet are kept in
``outbox_prior`` under their old epoch and seqs and sent up as that superseded box's (HQ
applies each once, ARCHITECTURE §3 invariant 7). Its birth tells HQ how far the backup went
(``prior``), so HQ sends the stock moved by the old box's events after that point."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sync.publisher import Batch

from edge.db.group_commit import Tx
from edge.db.stockcache import keeps_stock_cache
from edge.syncer import sql as syncdb

if TYPE_CHECKING:
    from edge.db.database import Database

@dataclass(frozen=True)
class Prior:
    epoch: int
    last_seq: int  # the backup's last event
    acked_seq: int  # HQ has every event up to it


def read(conn: sqlite3.Connection) -> Prior | None:
    if not syncdb.meta_int(conn, "prior_epoch"):
        return None
    return Prior(syncdb.meta_int(conn, "prior_epoch"), syncdb.meta_int(conn, "prior_last_seq"),
                 syncdb.meta_int(conn, "prior_acked_seq"))


@keeps_stock_cache  # sync bookkeeping only
def record_ack(tx: Tx, seq: int) -> int:
    tx.conn.execute("UPDATE meta SET value = CAST(MAX(CAST(value AS INTEGER), ?) AS TEXT) "
                    "WHERE key = 'prior_acked_seq'", (seq,))
    tx.conn.execute("DELETE FROM outbox_prior WHERE seq <= ?", (seq,))
    return syncdb.meta_int(tx.conn, "prior_acked_seq")


class PriorSource:
    """``OutboxSource`` of ``outbox_prior``, for a second ``OutboxPublisher``."""

    def __init__(self, db: Database, store_id: str, prior: Prior) -> None:
        self.db, self.store_id, self.prior = db, store_id, prior

    def last_seq(self) -> int:
        return self.prior.last_seq

    async def batch_after(self, seq: int, limit: int, max_bytes: int) -> Batch | None:
        return await self.db.read(syncdb.outbox_batch, self.store_id, seq, limit, max_bytes,
                                  self.prior.epoch, "outbox_prior")

    async def record_ack(self, seq: int) -> None:
        await self.db.write(record_ack, seq)


def birth_field(prior: Prior | None) -> dict[str, Any]:
    return {} if prior is None else {"prior": {"epoch": prior.epoch,
                                               "last_seq": prior.last_seq}}
