"""Staff: roles and what each may do, accounts and PIN hashes."""
