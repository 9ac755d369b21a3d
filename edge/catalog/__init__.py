"""The catalog and the one stock pool: items, channel prices, levels, movements and daily quotas, with their SQL and LAN routes."""
