"""HQ's change feed of each store: gapless cursors, the latest state per key, snapshots, and the
member changes fanned out to the stores of a tenant. Every capability appends to it; the sync
link (``cloud/sync/``) sends it down."""
