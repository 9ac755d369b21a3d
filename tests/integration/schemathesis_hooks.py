"""Custom schemathesis check, loaded with ``SCHEMATHESIS_HOOKS=<this file>``."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def error_body_is_json(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx answer is a JSON object ``{"error": "<code>", ...}``."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.content[:200]!r}") from None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        raise AssertionError(f"{response.status_code} answer has no 'error' code: {body!r}")
    return None
