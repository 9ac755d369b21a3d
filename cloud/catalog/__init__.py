"""HQ catalog changes, sent to each target store through its change feed."""
