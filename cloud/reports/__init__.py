"""HQ reports: the channel value report, cross-store flows and partner settlements; their SQL, operations, routes and CLI."""
