"""The callback sender ends when its app stops even if a cancellation is lost (Python 3.11's
``asyncio.wait_for`` can swallow one that arrives as the awaited call completes)."""

from __future__ import annotations

import asyncio
from typing import Any

from cloud.platforms.callbacks import CallbackSender
from cloud.platforms.settings import PlatformSettings


class SwallowingDb:
    """A ``DbRunner`` stand-in whose call swallows one cancellation, as the race does."""

    def __init__(self) -> None:
        self.inside = asyncio.Event()

    async def call(self, method: str, *args: Any) -> Any:
        self.inside.set()
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            pass  # the lost cancellation
        finally:
            self.inside.clear()
        return []


async def test_stop_ends_the_loop_when_a_cancellation_is_swallowed() -> None:
    db = SwallowingDb()
    sender = CallbackSender(PlatformSettings(callback_poll_s=0.01), db)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    await db.inside.wait()  # cancel while it is inside the database call
    sender.stop()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    if not done:  # the test failed: do not leave the loop running
        sender._stop.set()
        await asyncio.wait({task}, timeout=2)
    assert done, "the sender went on after its stop"
