"""The HQ API (ARCHITECTURE §4b): route table, handlers, errors, auth, metrics."""
