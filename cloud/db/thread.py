"""``DbThread``: one dedicated thread for blocking ``CloudDb`` calls made from an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class DbThread:
    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread; calls run one at a time, in the order made."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))

    async def close(self) -> None:
        """Finish the calls already queued, then end the thread."""
        await asyncio.wrap_future(self._pool.submit(lambda: None))
        self._pool.shutdown(wait=True)
