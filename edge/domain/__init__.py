"""Pure business rules: no I/O, no event loop. Tested directly."""
