"""Errors of the cloud's storage layer that callers (HQ API, CLI) turn into answers."""

from __future__ import annotations


class CloudError(Exception):
    """Base class: a request the cloud refuses."""


class StoreExists(CloudError):
    """``add_store`` for a store id that is already provisioned."""


class UnknownStore(CloudError):
    """A store id the cloud does not know."""


class UserExists(CloudError):
    """``add_user`` for a user id that already exists."""
