"""Errors of the cloud's storage layer that callers (HQ API, CLI) turn into answers."""

from __future__ import annotations


class CloudError(Exception):
    """Base class: a request the cloud refuses."""


class StoreExists(CloudError):
    """``add_store`` for a store id that is already provisioned."""


class UnknownStore(CloudError):
    """A store id the cloud does not know."""


class StocktakeOutOfRange(CloudError):
    """A stocktake whose count is further from HQ's stock than ``stocktake`` sends."""

    def __init__(self, on_hand: int, counted: int) -> None:
        super().__init__(f"counted {counted} against HQ's {on_hand}")
        self.on_hand, self.counted = on_hand, counted


class UserExists(CloudError):
    """``add_user`` for a user id that already exists."""
