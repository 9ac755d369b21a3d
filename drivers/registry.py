"""Drivers are chosen by a ``type`` key in config: one table of backends per family."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def make(backends: Mapping[str, Callable[[dict[str, Any]], T]], options: dict[str, Any],
         family: str) -> T:
    """The backend ``options["type"]`` names, built from ``options``."""
    try:
        factory = backends[options["type"]]
    except KeyError:
        raise ValueError(f"unknown {family} type {options.get('type')!r}; "
                         f"one of {sorted(backends)}") from None
    return factory(options)
