"""Members at the till: one identity across channels and stores, ledgers within leased limits, with their SQL, HQ feed handlers and LAN routes."""
