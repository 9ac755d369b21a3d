"""LAN API of the lockers: the staff page's overview, open by pickup code, open for staff."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.errors import NotFound
from common.http.body import json_response, read_body

from edge import keys
from edge.api.auth import require

OPEN_BY_CODE: dict[str, Any] = {
    "type": "object",
    "required": ["code"],
    "additionalProperties": False,
    "properties": {"code": {"type": "string", "maxLength": 16},
                   "bank": {"type": "string", "maxLength": 32}},
}
STAFF_OPEN: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"release": {"type": "boolean"}},
}


def _service(request: web.Request) -> Any:
    service = request.app.get(keys.LOCKERS)
    if service is None:
        raise NotFound("no_lockers", "no [lockers.<bank>] in edge.toml")
    return service


async def overview(request: web.Request) -> web.Response:
    require(request, "devices.read")
    service = request.app.get(keys.LOCKERS)
    if service is None:
        return json_response({"banks": {}, "assignments": []})
    return json_response(await service.overview())


async def open_by_code(request: web.Request) -> web.Response:
    require(request, "lockers.open")
    body = await read_body(request, OPEN_BY_CODE)
    return json_response(await _service(request).open_by_code(body["code"], body.get("bank")))


async def staff_open(request: web.Request) -> web.Response:
    require(request, "lockers.open")
    body = await read_body(request, STAFF_OPEN) if request.can_read_body else {}
    bank, number = request.match_info["bank"], request.match_info["n"]
    if not number.isascii() or not number.isdigit() or len(number) > 3:
        raise NotFound("unknown_compartment", {"bank": bank[:32], "n": number[:8]})
    result = await _service(request).staff_open(bank, int(number), bool(body.get("release")))
    return json_response(result)
