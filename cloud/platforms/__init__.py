"""Delivery platforms at HQ: signed webhooks in, unified orders to the stores through the
change feed, status callbacks out (docs/platforms.md)."""
