"""Pickup lockers: settings, SQL, one coordinator per bank, LAN API routes."""
