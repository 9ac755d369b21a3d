"""The waitlist's rules, without I/O: queues, labels, the status machine, turn times and the
wait estimate."""

from __future__ import annotations

import pytest

from edge.waitlist import rules


@pytest.mark.parametrize(("party", "queue"), [(1, "A"), (2, "A"), (3, "B"), (4, "B"), (5, "C"),
                                              (100, "C")])
def test_parties_fall_into_their_size_class(party: int, queue: str) -> None:
    assert rules.queue_for(party).name == queue


def test_no_queue_for_an_empty_party() -> None:
    with pytest.raises(ValueError):
        rules.queue_for(0)


def test_tables_a_class_is_seated_at() -> None:
    a, b, c = rules.QUEUES
    assert [s for s in range(1, 12) if a.fits(s)] == [1, 2, 3, 4]
    assert [s for s in range(1, 12) if b.fits(s)] == [3, 4, 5, 6, 7, 8]
    assert [s for s in range(1, 12) if c.fits(s)] == [5, 6, 7, 8, 9, 10, 11]
    assert (a.parties, c.parties) == ("1-2", "5+")


def test_ticket_labels() -> None:
    assert rules.ticket_label("A", 12) == "A012"
    assert rules.ticket_label("C", 1000) == "C1000"


@pytest.mark.parametrize(("current", "target", "allowed"), [
    ("waiting", "called", True), ("waiting", "seated", True), ("waiting", "skipped", True),
    ("waiting", "cancelled", True), ("called", "called", True), ("called", "seated", True),
    ("called", "skipped", True), ("called", "cancelled", True), ("waiting", "waiting", False),
    ("seated", "called", False), ("skipped", "seated", False), ("cancelled", "called", False),
    ("seated", "cancelled", False)])
def test_the_status_machine(current: str, target: str, allowed: bool) -> None:
    assert rules.may_move(current, target) is allowed


def test_turn_time_is_the_median_of_enough_measured_seatings() -> None:
    a = rules.BY_NAME["A"]
    assert rules.turn_time(a, [30, 40, 50, 35, 45]) == rules.Turn(40, 5, "measured")
    assert rules.turn_time(a, [30, 40, 50, 35, 45, 1000]) == rules.Turn(42, 6, "measured")
    assert rules.turn_time(a, [30, 40, 50, 35]) == rules.Turn(45, 4, "default")
    assert rules.turn_time(rules.BY_NAME["C"], []) == rules.Turn(90, 0, "default")


@pytest.mark.parametrize(("ahead", "fitting", "free", "turn", "minutes"), [
    (0, 2, 1, 30, 0),  # a free table: seated at once
    (1, 2, 2, 30, 0),
    (2, 2, 2, 30, 30),  # the two free tables go to the two ahead
    (0, 2, 0, 30, 30),  # every table busy: the first turn
    (1, 2, 0, 30, 30),
    (2, 2, 0, 30, 60),
    (5, 1, 0, 45, 270),
    (0, 0, 0, 60, 60),  # no table fits: counted as one
])
def test_the_estimate(ahead: int, fitting: int, free: int, turn: int, minutes: int) -> None:
    assert rules.estimate_wait(ahead, fitting, free, turn) == minutes


def test_waited_is_never_negative() -> None:
    assert rules.waited_s(100.0, 160.9) == 60
    assert rules.waited_s(100.0, 90.0) == 0
