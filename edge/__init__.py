"""storenode edge daemon: the per-store order center, stock pool and LAN API."""

from common import __version__

__all__ = ["__version__"]
