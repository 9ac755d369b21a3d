"""Printing at the edge: tickets from orders, the durable print queue and its coordinator."""
