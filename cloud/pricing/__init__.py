"""Time-window price rules set at HQ, sent to stores through their change feeds, and their clashes (docs/pricing.md)."""
