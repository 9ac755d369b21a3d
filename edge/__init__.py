"""storenode edge daemon: the per-store order center, stock pool and LAN API."""

__version__ = "0.1.0"
