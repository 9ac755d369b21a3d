"""Staff permissions on a request: the caller comes from the shared bearer token
(``common.http.auth``), what each role may do from ``edge/staff/roles.py``."""

from __future__ import annotations

from aiohttp import web

from common.http.auth import PRINCIPAL, Principal
from common.http.errors import ApiError

from edge.staff.roles import role_may


def require(request: web.Request, permission: str) -> Principal:
    who = request[PRINCIPAL]
    if not role_may(who.role, permission):
        raise ApiError(403, "forbidden", {"role": who.role, "needs": permission})
    return who
