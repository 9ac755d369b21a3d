"""Performance benchmarks (issue 2), run by `make bench`; not part of `make test`."""
