"""The LAN API's kit (ARCHITECTURE §4, JSON over HTTP under /api/v1): permissions, the event
WebSocket, shared request schemas and parameters. Each capability keeps its own routes; the
route table is ``edge/routes.py``. Imports no capability but staff roles."""
