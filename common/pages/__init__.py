"""What both services' pages share: ``/static/common.js`` (the API and message helper) and
``/static/vocabulary.js`` (``common.vocabulary`` as a script, so no page keeps a copy of the
channels or the other shared tables)."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from common import vocabulary

HERE = Path(__file__).parent


def vocabulary_js() -> str:
    return f"const VOCABULARY = Object.freeze({json.dumps(vocabulary.as_json())});\n"


def setup_shared_pages(app: web.Application) -> None:
    """Add the shared scripts; call before the service's own ``/static/`` route."""
    script = vocabulary_js().encode()

    async def common_js(request: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / "common.js", headers={"Cache-Control": "no-cache"})

    async def vocabulary_script(request: web.Request) -> web.Response:
        return web.Response(body=script, content_type="text/javascript",
                            headers={"Cache-Control": "no-cache"})

    app.router.add_get("/static/common.js", common_js)
    app.router.add_get("/static/vocabulary.js", vocabulary_script)


FEEDBACK_HEADERS = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer",
                    "X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                    "style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"}


def feedback_page() -> web.Response:
    """The after-visit feedback page (the edge serves it at ``/f/{token}``, HQ at
    ``/f/{store}/{token}``): one file, no external asset, comments shown as text only."""
    return web.Response(body=(HERE / "feedback.html").read_bytes(), content_type="text/html",
                        charset="utf-8", headers=FEEDBACK_HEADERS)
