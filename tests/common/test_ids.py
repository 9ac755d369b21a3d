"""Order and event ids: ULIDs as python-ulid writes them, strictly increasing in a process."""

from __future__ import annotations

import random
import time

import pytest
from ulid import ULID

from common import ids


def test_ids_are_ulids_of_now_and_strictly_increasing() -> None:
    before = time.time()
    made = [ids.new_ulid() for _ in range(20_000)]  # many share a millisecond
    after = time.time()
    assert made == sorted(made) and len(set(made)) == len(made)
    for text in made[:: 1000]:
        assert len(text) == 26 and str(ULID.from_str(text)) == text
        assert before - 0.001 <= ULID.from_str(text).timestamp <= after + 0.001


def test_encoding_matches_python_ulid() -> None:
    rng = random.Random(7)
    for value in [0, (1 << 128) - 1, *(rng.getrandbits(128) for _ in range(2000))]:
        ms, rand = value >> 80, value & ((1 << 80) - 1)
        text = ids._encode_ms(ms) + ids._encode_random(rand)
        assert text == str(ULID(value.to_bytes(16, "big")))


def test_same_millisecond_increments_and_refuses_to_wrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_000_000_000)
    gen = ids.UlidGenerator()
    first, second = gen.new(), gen.new()
    assert int(ULID.from_str(second)) == int(ULID.from_str(first)) + 1
    gen._random = ids._MAX_RANDOM
    with pytest.raises(OverflowError):
        gen.new()
