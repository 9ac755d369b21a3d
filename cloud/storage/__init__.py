"""HQ storage that does not grow forever: partitions of the raw events made ahead, the days
past the retention archived as compressed JSON lines and removed, the confirmed change feed
pruned, old resolved conflicts archived (docs/sync-protocol.md, "Storage at HQ")."""
