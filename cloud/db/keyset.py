"""Keyset pagination in SQL: a list's sort key as data, the condition "after this key" and its
``ORDER BY`` (the HQ API's ``?cursor=``, docs/hq-api.md#pagination).

Never ``OFFSET``: a page costs the same at any depth (the condition walks the index that the
sort key follows), and rows added between two pages neither repeat nor shift the next one. The
last column of every key is unique, so the order is total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.db.backend import Backend

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Column:
    name: str  # the column, as selected and as named in the row
    kind: type[str] | type[int]
    descending: bool = False

    @property
    def sign(self) -> str:
        return "<" if self.descending else ">"


@dataclass(frozen=True)
class Keyset:
    """A list's total order: ``tag`` names it in its cursors (a cursor of another list is
    refused), ``hidden`` are key columns the answer does not show; ``default`` and ``high``
    bound ``?limit=``."""

    tag: str
    columns: tuple[Column, ...]
    hidden: tuple[str, ...] = ()
    default: int = 200
    high: int = 1000

    @property
    def order_by(self) -> str:
        return ", ".join(f"{c.name} DESC" if c.descending else c.name for c in self.columns)

    def after(self, key: Key | None) -> tuple[list[str], list[Any]]:
        """SQL conditions (to AND with the list's own) and their parameters for the rows that
        come after ``key``; none for the first page. The first one bounds the leading column
        alone, so an index on it is used however the rest is written."""
        if key is None:
            return [], []
        first = self.columns[0]
        if len(self.columns) == 1:
            return [f"{first.name} {first.sign} ?"], [key[0]]
        terms, params = [], []
        for i, column in enumerate(self.columns):
            equal = [f"{c.name} = ?" for c in self.columns[:i]]
            terms.append("(" + " AND ".join([*equal, f"{column.name} {column.sign} ?"]) + ")")
            params += [*key[:i], key[i]]
        return ([f"{first.name} {first.sign}= ?", f"({' OR '.join(terms)})"],
                [key[0], *params])

    def key(self, row: dict[str, Any]) -> Key:
        return tuple(row[c.name] for c in self.columns)


def where(conditions: list[str]) -> str:
    """``WHERE a AND b`` (with a leading space), or nothing."""
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def page_rows(db: Backend, keyset: Keyset, select: str, after: Key | None, limit: int | None,
              **equal: Any) -> list[dict[str, Any]]:
    """``SELECT {select}`` (``columns FROM table``) of the rows whose columns equal the
    values ``equal`` gives (None: any value), after ``after`` in ``keyset`` order, at most
    ``limit`` of them (None: all)."""
    given = {column: value for column, value in equal.items() if value is not None}
    conditions, params = keyset.after(after)
    conditions = [*(f"{column} = ?" for column in given), *conditions]
    tail, bound = ("", []) if limit is None else (" LIMIT ?", [limit])
    return db.rows(f"SELECT {select}{where(conditions)} ORDER BY {keyset.order_by}{tail}",
                   [*given.values(), *params, *bound])
