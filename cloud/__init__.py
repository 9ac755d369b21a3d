"""storenode HQ service (see issue 3)."""
