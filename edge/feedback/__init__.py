"""Feedback after the visit at the store: the order's feedback page and rating on the shop's
Wi-Fi (offline too), the alert to staff, HQ's ratings of the store's orders."""
