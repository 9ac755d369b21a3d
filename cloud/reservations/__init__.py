"""Reservations at HQ: the brand's online bookings within the capacity stores lease to HQ,
the stores' bookings and waitlists, and their reports."""
