"""What ``CloudDb``'s protocol operations answer: small frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

ACK_KINDS: Final = ("applied", "duplicate", "gap", "rejected")


@dataclass(frozen=True)
class Ack:
    """The outcome of one upstream batch.

    ``applied``: events up to ``applied_seq`` are committed (``events_applied`` of them now);
    ``duplicate``: nothing new, ``applied_seq`` is the store's; ``gap``: the batch starts
    after ``resend_from`` = applied_seq + 1; ``rejected``: invalid input (``reason``), no ack.
    """

    kind: str
    applied_seq: int | None = None
    resend_from: int | None = None
    events_applied: int = 0
    reason: str | None = None
    # the box the batch came from; ``superseded``: a box that was replaced (it drains)
    epoch: int = 1
    superseded: bool = False
    # member changes the batch sent to stores' feeds: {store: first new cursor} (to push)
    feed: dict[str, int] = field(default_factory=dict, compare=False)

    def message(self) -> dict[str, Any] | None:
        """The ``ack`` payload for the edge (without ``v``), or None when nothing is sent."""
        if self.kind == "gap":
            found = {"resend_from": self.resend_from, "applied_seq": self.applied_seq}
        elif self.kind in ("applied", "duplicate"):
            found = {"applied_seq": self.applied_seq}
        else:
            return None
        found["epoch"] = self.epoch
        if self.superseded:
            found["superseded"] = True
        return found

    @classmethod
    def rejected(cls, reason: str) -> Ack:
        return cls("rejected", reason=reason)


@dataclass(frozen=True)
class StateResult:
    """A birth or death: ``accepted`` unless stale/invalid; ``replay_from`` on an accepted birth."""

    accepted: bool
    online: bool
    replay_from: int | None = None
    reason: str | None = None
    # an answer to send on the store's ack topic (to a superseded box: superseded_ack)
    ack: dict[str, Any] | None = field(default=None, compare=False)
    # lease changes a settlement sent to stores' feeds: {store: first new cursor} (to push)
    feed: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Feed:
    """Changes for one store: incremental from ``from_cursor``, or a full snapshot;
    ``reset``: a snapshot for an edge whose cursor is ahead of the feed (it takes ours)."""

    snapshot: bool
    from_cursor: int
    cursor: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False
    # the store's current box: its down messages say so (a replaced box drops them)
    epoch: int = field(default=1, compare=False)
