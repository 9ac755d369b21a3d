"""The edge end of the sync protocol (sync/): the outbox up, acks, birth and death, HQ's change feed down, and its SQL."""
