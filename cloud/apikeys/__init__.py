"""Machine credentials at HQ: API keys with scopes for Prometheus, BI tools, the brand's
mini-program backend and delivery-platform integrations; made and revoked by a person (the
CLI or a logged-in hq_admin), stored as a digest. docs/hq-api.md is the manual."""
