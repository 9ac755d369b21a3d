"""A background task for as long as a service serves (the body of a ``cleanup_ctx``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def background(work: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    """Run ``work`` (None: nothing) until the block ends, then cancel it and wait for it."""
    task = asyncio.create_task(work) if work is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
