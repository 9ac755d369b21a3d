"""HQ's end of the sync protocol: ingest of store batches (exactly-once apply, projections), store presence, each store's change feed and the MQTT link."""
