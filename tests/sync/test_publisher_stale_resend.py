"""A ``resend_from`` older than an ack the edge already has (issue 13.11): HQ asking on its
reconnect from what it had applied when it listed the stores, or a second worker answering a
gap while another applied the batches before. The edge resends (harmless: HQ drops
duplicates) and says so, without claiming that HQ lost data."""

from __future__ import annotations

import logging

import pytest

from sync import messages
from sync.publisher import OutboxPublisher
from tests.sync.test_publisher import TOPIC, Outbox, Sent, ack, run_until


async def test_a_stale_resend_from_is_logged_as_what_it_is(
        caplog: pytest.LogCaptureFixture) -> None:
    outbox, sent = Outbox(30), Sent()
    pub = OutboxPublisher(outbox, sent, TOPIC, 0, batch_max=10, window=4, read_ahead=0)
    pub.on_connected()
    await run_until(pub, lambda: sent.seqs[-1:] == [30])
    pub.on_ack(ack(30))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="sync.publisher"):
        # HQ's reconnect request, made when it had applied 20 (it has 30 by now)
        pub.on_ack(messages.encode(messages.reconnect_ack(20)))
    [record] = [r for r in caplog.records if r.name == "sync.publisher"]
    text = record.getMessage()
    assert record.levelno == logging.INFO, (record.levelname, text)
    assert "21" in text and "30" in text, text
    assert "older than that ack" in text and "drops those it already has" in text, text
    for alarming in ("backup", "lost", "restored"):
        assert alarming not in text.lower(), text
    # and the events are sent again from 21, in case HQ really lacks them
    assert pub.acked_seq == 20 and pub.next_seq == 21
    before = len(sent.seqs)
    await run_until(pub, lambda: sent.seqs[-1:] == [30] and len(sent.seqs) > before)
    assert sent.seqs[before:] == list(range(21, 31))
