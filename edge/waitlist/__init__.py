"""The waitlist: queue tickets by party size, called, seated, skipped or cancelled."""
