"""Members at HQ (docs/members.md): One-ID, ledgers, leases, coupons, earning rules; their SQL, operations, schemas and HQ routes."""
