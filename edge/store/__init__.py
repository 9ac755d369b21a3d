"""Edge storage: SQLite (WAL, synchronous=FULL), one writer thread, named migrations.

All SQL of the edge store lives in this package.
"""
