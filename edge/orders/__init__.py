"""The order center: one order whatever the channel, its status machine, pricing, payments and refunds, with its SQL and LAN routes."""
