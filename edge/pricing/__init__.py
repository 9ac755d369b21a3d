"""Time-window prices: rules, their SQL and routes (docs/pricing.md)."""
