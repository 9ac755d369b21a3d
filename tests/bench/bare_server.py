"""The baseline: a bare aiohttp JSON POST handler, run as ``python -m tests.bench.bare_server PORT``.

It parses the JSON body and answers 201 with an order-shaped JSON document of
about the size the store answers with (~770 bytes for a 3-line order), so the
ratio store/bare measures what the store adds on top of aiohttp itself: auth,
validation, the SQLite transaction, the durable commit, the outbox.
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


async def create(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    lines = [
        {"line_no": n, "sku": line["sku"], "name": "\u9ebb\u8fa3\u9999\u9505", "qty": line["qty"],
         "unit_cents": 1800, "total_cents": 1800 * line["qty"], "station": "wok",
         "note": line.get("note")}
        for n, line in enumerate(body["lines"], 1)
    ]
    order = {
        "id": "01M84CEYVZ76P9PWCARMFXGW8S", "number": 1, "day": "2026-01-01",
        "channel": body["channel"], "status": "placed",
        "total_cents": sum(line["total_cents"] for line in lines),
        "member": body.get("member"), "table": body.get("table"),
        "pickup": bool(body.get("pickup")),
        "created_at": "2026-01-01T12:00:00.000Z", "updated_at": "2026-01-01T12:00:00.000Z",
        "lines": lines, "stations": sorted({line["station"] for line in lines}),
    }
    return web.json_response(order, status=201)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/v1/orders", create)
    app.router.add_get("/api/v1/health", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
                print=None, backlog=512)


if __name__ == "__main__":
    main()
