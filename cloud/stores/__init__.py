"""Stores as HQ sees them: presence and lag, orders, inventory, conflicts; their SQL and HQ routes."""
