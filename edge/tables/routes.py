"""Staff's table routes: the floor with its seatings and calls; open, move, close; calls."""

from __future__ import annotations

from aiohttp import web

from common.errors import NotFound
from common.http.body import json_response, read_body
from common.http.errors import ApiError

from edge import keys
from edge.api.auth import require
from edge.staff.roles import role_may
from edge.tables import rules, sql
from edge.tables.schemas import CLOSE, MOVE, OPEN, STATUS, TABLE_CREATE


def _table_id(request: web.Request) -> str:
    table_id = request.match_info["id"]
    if not rules.TABLE_ID.match(table_id):
        raise NotFound("unknown_table", {"id": table_id[:64]})
    return table_id


async def list_tables(request: web.Request) -> web.Response:
    require(request, "tables.read")
    return json_response(await request.app[keys.DB].read(sql.list_tables))


async def create(request: web.Request) -> web.Response:
    require(request, "tables.manage")
    body = await read_body(request, TABLE_CREATE)
    table = await request.app[keys.DB].write(sql.add_table, body["id"], body["name"],
                                             body["seats"], body.get("area", ""))
    return json_response(table, status=201)


async def rotate(request: web.Request) -> web.Response:
    require(request, "tables.manage")
    return json_response(await request.app[keys.DB].write(sql.rotate_token, _table_id(request)))


async def open_table(request: web.Request) -> web.Response:
    who = require(request, "tables.write")
    table_id = _table_id(request)
    body = await read_body(request, OPEN)
    session = await request.app[keys.DB].write(sql.open_table, table_id, body.get("guests"),
                                               who.staff)
    return json_response(session, status=201)


async def close(request: web.Request) -> web.Response:
    who = require(request, "tables.write")
    table_id = _table_id(request)
    body = await read_body(request, CLOSE)
    force = bool(body.get("force"))
    if force and not role_may(who.role, "tables.force_close"):
        raise ApiError(403, "forbidden", {"role": who.role, "needs": "tables.force_close"})
    return json_response(await request.app[keys.DB].write(sql.close_table, table_id, force))


async def move(request: web.Request) -> web.Response:
    require(request, "tables.write")
    table_id = _table_id(request)
    body = await read_body(request, MOVE)
    return json_response(await request.app[keys.DB].write(sql.move_table, table_id, body["to"]))


async def set_status(request: web.Request) -> web.Response:
    require(request, "tables.write")
    table_id = _table_id(request)
    body = await read_body(request, STATUS)
    return json_response(await request.app[keys.DB].write(sql.set_status, table_id, body["to"]))


async def ack_call(request: web.Request) -> web.Response:
    who = require(request, "tables.write")
    table_id = _table_id(request)
    text = request.match_info["call"]
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise NotFound("unknown_call", {"call": text[:64]})
    return json_response(await request.app[keys.DB].write(sql.ack_call, table_id, int(text),
                                                          who.staff))
