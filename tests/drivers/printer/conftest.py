"""Fake printers speaking the real wire protocol (TCP 9100 with DLE EOT status)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drivers.printer.fake import FakeNetworkPrinter


@pytest.fixture
async def fake() -> AsyncIterator[FakeNetworkPrinter]:
    async with FakeNetworkPrinter() as printer:
        yield printer


@pytest.fixture
async def fake2() -> AsyncIterator[FakeNetworkPrinter]:
    async with FakeNetworkPrinter() as printer:
        yield printer
