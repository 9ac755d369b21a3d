"""Guests at the table on mobile data (and the brand's mini-program): HQ relays their orders
to the store through the change feed (``guest.order``) and answers from the store's events."""
