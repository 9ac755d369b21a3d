"""OpenAPI 3.1 documents generated from a route table and its request schemas."""

from __future__ import annotations

import re
from typing import Any

from common.http.routes import Route

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "detail": {}},
}
_PARAM = re.compile(r"{(\w+)}")
_PATH_PARAMS = {"sku": {"type": "string", "maxLength": 64}, "id": {"type": "string"}}


def build_document(routes: tuple[Route, ...], info: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a route table."""
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(route: Route) -> dict[str, Any]:
    name = route.handler.__name__
    params = [
        {"name": p, "in": "path", "required": True, "schema": _PATH_PARAMS.get(p, {"type": "string"})}
        for p in _PARAM.findall(route.path)
    ]
    params += [{"name": k, "in": "query", "required": False, "schema": v}
               for k, v in route.query.items()]
    params += [{"name": k, "in": "header", "required": True, "schema": v}
               for k, v in route.headers.items()]
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Any] = {
        str(route.ok): {"description": "success", "content": {route.produces: {"schema": {}}}}
    }
    statuses = set(route.errors) | ({400, 500} if route.body else set())
    if not route.public:
        statuses |= {401, 403}
    for status in sorted(statuses - {500}):
        responses[str(status)] = {"description": "error", "content": error_ref}
    op: dict[str, Any] = {
        "operationId": f"{route.method.lower()}_{name}",
        "summary": route.summary,
        "parameters": params,
        "responses": responses,
    }
    if route.public:
        op["security"] = []
    if route.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {route.consumes: {"schema": route.body}}}
    return op
