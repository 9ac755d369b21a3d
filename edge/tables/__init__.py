"""Tables, their seatings (sessions), and the guest at the table: QR ordering over the LAN."""
