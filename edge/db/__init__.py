"""The edge's database engine: SQLite (WAL, synchronous=FULL), one writer thread with group
commit, reader connections, named migrations and the transactional outbox.

The SQL of each capability lives in its own folder (``edge/orders/writes.py``,
``edge/members/sql.py``, …) and runs here as ``fn(tx, …)`` on the writer or ``fn(conn, …)``
on a reader.
"""
